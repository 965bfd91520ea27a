// Package postgres is the scale-out store of gitops-status: a gitops.Store
// on PostgreSQL through pgx/v5 and its connection pool, shared by any number
// of replicas of the service.
//
// # Consistency between replicas
//
// The store keeps no data in the process: every call reads the database,
// so a write one replica acknowledged is visible to the very next call on
// any other. Each update is an atomic read-modify-write of its server: in
// a transaction it locks the server's row (SELECT … FOR UPDATE), reads the
// clock while holding it, writes the new row and its event, and commits;
// concurrent pipeline and cron updates of one server, from any replicas, are
// therefore applied one after the other and never lose a field. Creating a
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
