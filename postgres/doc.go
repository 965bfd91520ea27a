// Package postgres is the scale-out store of gitops-status: a gitops.Store
// on PostgreSQL through pgx/v5 and its connection pool, shared by any number
// of replicas of the service.
//
// # Consistency between replicas
//
// Get, List and the other methods read the database, so a write one
// replica acknowledged is visible to the very next call on any other.
// GetEncoded and ListEncoded (what GET /status serves) answer from an
// encoded copy of every server that each Store keeps in memory, and that
// they first bring up to date with one query; the copy is never older than
// the database was when the read was called (see "The encoded cache").
// Each update is an atomic read-modify-write of its server: in a
// transaction it locks the server's row (SELECT … FOR UPDATE), reading the
// record from the row's head (servers.head, below), or from its columns
// when the head is NULL or does not read back exactly, reads the clock
// while holding it, writes the new row and its event, and commits;
// concurrent pipeline and cron updates of one server, from any replicas,
// are therefore applied one after the other and never lose a field. Creating a
// server races with another replica creating it: the loser gets a unique
// violation before anything is committed and runs its whole transaction
// again, now finding the row.
//
// Group commit: updates that arrive together share a transaction (up to
// 64, through one writer goroutine per process), which spends one commit
// on all of them; their rows are locked in key order, so transactions of
// several replicas cannot deadlock, and an update the database refuses
// (such as text with a NUL character) is retried alone so that only it
// fails. An update is acknowledged only after its transaction committed.
//
// A first-start import takes effect at most once: the transaction that
// inserts the 'imported_at' meta row first wins, and one started at the same
// moment by another replica waits for it and then sees the row.
//
// # The encoded cache
//
// Every transaction that writes servers takes the next value of a counter
// (server_change_counter.n) after it locked the rows it reads and before it
// writes, stamps the rows it writes with it (servers.change, next to
// servers.head, the record's encoded JSON head), and keeps the counter row
// locked until it commits. Numbers are therefore handed out in commit
// order: a snapshot that sees the counter at n sees every write numbered n
// or less and none above. Each write transaction also appends one row to
// server_changes, an append-only log: its number and the keys it wrote.
// Deletions are numbered too and logged in server_deletions. A Store's
// copy is the state at some n; before an encoded read answers, one
// statement (one snapshot, one round trip) returns the counter, the
// current row of every key logged above the copy's n (read by primary
// key, once however often it was logged) and every deletion numbered
// above it, which makes the copy the state at the new n. The read waits for a
// refresh that started after it was called, never an earlier one, so it
// sees every write acknowledged before it (by any replica); reads that
// arrive while a refresh runs share the next one. When nothing changed the
// statement returns the counter alone. The store's own writer also puts
// its committed rows into the copy when no other write came between, and
// otherwise keeps them (up to 20,000 rows) for the next refresh, which
// leaves their numbers out of the change log it reads and takes them from
// there: a replica reads back the other replicas' writes, not its own.
// serve also has each replica refresh by itself every 200 ms (Follow), so
// a replica that few reads reach never has a long backlog of the others'
// writes to apply at once.
//
// Costs and limits: each replica holds every server's encoded record in
// memory, about 1 KiB of live heap per server (some 100 MiB at 100,000),
// loaded by the first encoded read. The counter row serializes the
// commits of all replicas: a writer holds it from its row writes to its
// COMMIT. One replica already commits one batch (of up to 64 updates) at a
// time; several replicas writing at once now also take turns, so their
// commits no longer overlap and the fleet's write throughput is bounded by
// one commit (one WAL flush) at a time. servers.change is not indexed
// (migration 0004): an index on it made every update write an entry in
// every index of servers (no HOT updates), which cost the parallel
// pipeline benchmark some 35-40% more per update on PostgreSQL 15; the log
// costs one small row and one index entry per transaction instead. The head adds its
// bytes to the WAL of each update. PruneEvents prunes deletion log entries
// with events, and change log entries older than an hour whatever the
// event retention (serve calls it every hour, with the zero time when
// retention is off, so the log never grows past an hour of writes); a
// copy older than the newest pruned
// entry (server_change_counter.horizon) loads everything again. Binaries
// from before migration 0003 keep working during a rolling upgrade:
// triggers number their writes (each row, not each transaction), log them
// and clear the head, which readers then encode from the columns. Binaries
// of migration 0003 number their writes but do not log them; the same
// triggers log those, and their own refreshes, which read servers.change,
// scan the table while it has no index. An older binary's import
// upserts rows it did not lock first, so it may take the counter before a
// row lock and deadlock with an update; PostgreSQL breaks that after
// deadlock_timeout, and whichever it aborts is retried (an update by the
// store, the import by whoever ran it). A future change of the head
// encoding must clear stored heads in a migration.
//
// # Migrations
//
// Open applies the embedded migrations (migrations/NNNN_name.sql), each in
// its own transaction and recorded in schema_migrations. A session advisory
// lock (key 0x6769746f70732d6d, "gitops-m") makes replicas starting
// together take turns; the ones that come second find nothing to do. The
// database user needs the right to create tables in the schema. Migrate does the same on
// its own, for a migrate subcommand. Tables are created in the first schema
// of the connection's search_path (usually public); set search_path in the
// URL to use another.
//
// # Connection URL and pool sizing
//
// The URL is a PostgreSQL URL or keyword/value string as pgx reads it, e.g.
//
//	postgres://gitops:secret@db.example:5432/gitops?sslmode=verify-full&pool_max_conns=16
//
// Defaults the store sets when the URL does not say otherwise:
//
//   - pool_max_conns=16 per process: the writer uses one, reads the rest.
//     With N replicas, N × pool_max_conns plus what other
//     clients use must stay below the server's max_connections (default
//     100): e.g. 4 replicas × 16 = 64. Put a pooler such as PgBouncer in
//     front for many more; it must run in session or transaction mode
//     (statements are prepared per connection, which PgBouncer 1.21+
//     supports in transaction mode with max_prepared_statements set).
//   - connect_timeout=5s, pool_ping_timeout=5s, so an unreachable server
//     is reported as unavailable within seconds instead of hanging.
//   - application_name=gitops-status, so the store's connections can be
//     told apart in pg_stat_activity.
//   - pool_max_conn_lifetime=1h with 5m of jitter, so replicas do not all
//     reconnect at the same moment.
//
// Dead row versions are autovacuum's to reclaim: every update leaves one in
// servers and one in server_change_counter, and the store runs no VACUUM.
// SettingWarnings reports a server with autovacuum or track_counts off,
// and serve logs that at start.
//
// Every store call other than Import gives up after OperationTimeout (30s)
// when the database does not answer, even when the caller's context has no
// deadline. Durability is the server's: with synchronous_commit on (the
// default) an acknowledged update survives a crash of the database server.
//
// TLS is set by the URL's sslmode (disable, prefer, require, verify-ca,
// verify-full) with sslrootcert, sslcert and sslkey as libpq reads them; use
// verify-full across untrusted networks. A password may also come from
// PGPASSWORD or a .pgpass file instead of the URL.
//
// # Errors and outages
//
// When the database cannot be reached, or drops connections (restart,
// failover, pg_terminate_backend), calls return *gitops.Error values with
// code EUNAVAILABLE and a message starting "database unavailable: " (the
// password is never part of it); never stale or partial data. The process
// keeps running: the pool reconnects by itself once the database is back.
// When a call finds its connection dead, the store discards every idle
// connection (they likely died the same way) and, where that is safe, runs
// the call once more on a new connection: reads always, an update when it
// had not committed. When the connection dies while an update commits, the
// store asks the database (pg_xact_status) whether it committed, and only
// when that cannot be known does the update fail with a message saying it
// may or may not have been applied. So one killed backend costs at most
// the calls in flight on it, usually none. Not found is ENOTFOUND; text
// PostgreSQL cannot store (a NUL character) is EINVALID; anything else is
// EINTERNAL, with the cause kept in the error chain for logs.
package postgres
