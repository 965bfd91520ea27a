// Package postgres is the scale-out store of gitops-status: a gitops.Store
// on PostgreSQL through pgx/v5 and its connection pool, shared by any number
// of replicas of the service.
//
// # Consistency between replicas
//
// The store keeps no data in the process: every call reads the database,
// so a write one replica acknowledged is visible to the very next call on
// any other. Each update is one transaction that locks the server's row
// (SELECT … FOR UPDATE), reads the clock while holding it, writes the new
// row and its event, and commits; concurrent pipeline and cron updates of
// one server, from any replicas, are therefore applied one after the other
// and never lose a field. Creating a server races with another replica
// creating it: the loser gets a unique violation before anything is
// committed and runs its whole transaction again, now finding the row.
//
// A first-start import takes effect at most once: the transaction that
// inserts the 'imported_at' meta row first wins, and one started at the same
// moment by another replica waits for it and then sees the row.
//
// # Migrations
//
// Open applies the embedded migrations (migrations/NNNN_name.sql), each in
// its own transaction and recorded in schema_migrations. A session advisory
// lock (key migrationLockKey) makes replicas starting together take turns;
// the ones that come second find nothing to do. Migrate does the same on
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
//   - pool_max_conns=16 per process. With N replicas, N × pool_max_conns
//     plus what other clients use must stay below the server's
//     max_connections (default 100): e.g. 4 replicas × 16 = 64. Put a
//     pooler such as PgBouncer (transaction mode) in front for many more.
//   - connect_timeout=5s, pool_ping_timeout=5s, so an unreachable server
//     is reported as unavailable within seconds instead of hanging.
//   - application_name=gitops-status, so the store's connections can be
//     told apart in pg_stat_activity.
//   - pool_max_conn_lifetime=1h with 5m of jitter, so replicas do not all
//     reconnect at the same moment.
//
// Every store call other than Import gives up after OperationTimeout (30s)
// when the database does not answer, even when the caller's context has no
// deadline.
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
// the call once more on a new connection: reads always, an update when the
// failure came before its commit was sent. So one killed backend costs at
// most that one call. Not found is ENOTFOUND; anything else is EINTERNAL,
// with the cause kept in the error chain for logs.
package postgres
