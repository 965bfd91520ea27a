package postgres

import (
	"context"
	"errors"
	"slices"
	"time"

	gitops "github.com/gitops-status/gitops-status"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Delete forgets a server; its events stay until PruneEvents removes them.
// It is repeated on a new connection only when it failed before reaching
// the server (a repeat after that could report a deletion it made itself
// as not found). Returns ENOTFOUND, EUNAVAILABLE, EINTERNAL.
func (s *Store) Delete(ctx context.Context, k gitops.Key) error {
	if s.closed.Load() {
		return errClosed()
	}
	ctx, cancel := context.WithTimeout(ctx, OperationTimeout)
	defer cancel()
	const q = `DELETE FROM servers WHERE server_group = $1 AND host = $2`
	tag, err := s.pool.Exec(ctx, q, k.ServerGroup, k.Host)
	if err != nil && pgconn.SafeToRetry(err) && ctx.Err() == nil {
		s.lost(err)
		tag, err = s.pool.Exec(ctx, q, k.ServerGroup, k.Host)
	}
	if err != nil {
		return s.err("deleting server "+k.String(), err)
	}
	if tag.RowsAffected() == 0 {
		return notFound(k)
	}
	return nil
}

// PruneEvents deletes the events whose time is before before (strictly)
// and returns how many it deleted. With them go the entries of the
// deletion log (see cache.go) logged before before, and the entries of the
// change log logged before before or more than changeLogKeep ago, and the
// counter's horizon rises past them, so a replica whose copy is older than
// the entries removed loads everything again. Deleting is idempotent, so
// it is repeated once on a new connection when its connection was lost.
// Returns EUNAVAILABLE, EINTERNAL.
func (s *Store) PruneEvents(ctx context.Context, before time.Time) (int, error) {
	var n int64
	err := s.read(ctx, "pruning events", func(ctx context.Context) error {
		tag, err := s.pool.Exec(ctx, `DELETE FROM events WHERE "time" < $1`, ts(ceilMicro(before)))
		if err != nil {
			return err
		}
		n = tag.RowsAffected()
		_, err = s.pool.Exec(ctx, pruneLogs, ts(ceilMicro(before)))
		return err
	})
	return int(n), err
}

// pruneLogs removes the deletion log's entries older than $1 and the
// change log's older than $1 or changeLogKeep (by the database's clock)
// and, in the same statement, raises the horizon to the newest number it
// removed. The change log grows with every write transaction, so it keeps
// only an hour whatever the event retention: enough that a replica
// reading now and then still refreshes by delta, and a replica idle for
// longer loads everything once. Entries are removed by time, not number,
// so an entry may outlive one numbered above it; the horizon is the
// highest number removed, so a copy at or above it misses no entry, and
// one below it reloads.
const pruneLogs = `WITH d AS (DELETE FROM server_deletions WHERE deleted_at < $1 RETURNING change),
	c AS (DELETE FROM server_changes WHERE logged_at < GREATEST($1, now() - interval '` + changeLogKeep + `') RETURNING change)
	UPDATE server_change_counter SET horizon = GREATEST(horizon, (SELECT max(change) FROM d), (SELECT max(change) FROM c))
	WHERE id = true AND (EXISTS (SELECT 1 FROM d) OR EXISTS (SELECT 1 FROM c))`

// changeLogKeep is how long change log entries are kept at most, as a
// PostgreSQL interval.
const changeLogKeep = "1 hour"

// metaImportedAt is the meta key recording the last import.
const metaImportedAt = "imported_at"

// Import writes servers as given (complete records; Stale is ignored) in
// one transaction and records the import in the meta table; when servers
// holds one key twice, the later record wins. It reports true when it
// imported, also when servers is empty (the import is recorded all the
// same). No events are written.
//
// With ImportFirstStart it writes only when the store has never imported
// and holds no server, and reports false otherwise. The transaction first
// inserts the meta row (ON CONFLICT DO NOTHING): of several replicas
// importing at once, the others wait on that row and then find it, so
// exactly one imports. It then locks the servers table against writes
// (reads go on) while it checks that the table is empty and fills it, so an
// update arriving meanwhile waits rather than racing the import.
//
// With ImportReplace it upserts every server, keeping the others.
//
// Import is not bounded by OperationTimeout (100,000 servers take seconds);
// it is bounded by ctx. Returns EUNAVAILABLE, EINTERNAL.
func (s *Store) Import(ctx context.Context, servers []gitops.Server, mode gitops.ImportMode) (bool, error) {
	if s.closed.Load() {
		return false, errClosed()
	}
	rows := importRows(servers)
	var did bool
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		at := gitops.FormatTime(s.clock())
		if mode == gitops.ImportFirstStart {
			tag, err := tx.Exec(ctx, `INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING`, metaImportedAt, at)
			if err != nil || tag.RowsAffected() == 0 {
				return err // imported before: nothing to do
			}
			// The change number is taken before the table lock, unlike
			// updates, which take it after their row locks: an update
			// holding the counter waits for the table lock to write, so
			// taking them the other way round could deadlock. Updates
			// that locked rows before the table lock hold no counter yet
			// (or already committed), so they only wait.
			var change int64
			if err := scanCounter(tx.QueryRow(ctx, bumpCounter), &change); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `LOCK TABLE servers IN SHARE ROW EXCLUSIVE MODE`); err != nil {
				return err
			}
			var exists bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM servers)`).Scan(&exists); err != nil {
				return err
			}
			if exists {
				return errSkip // leaves no import record, as if never tried
			}
			for _, r := range rows {
				r[len(r)-1] = change
			}
			if _, err := tx.CopyFrom(ctx, pgx.Identifier{"servers"}, serverColumnList, pgx.CopyFromRows(rows)); err != nil {
				return err
			}
			// The table was empty and is locked: every row is ours.
			if _, err := tx.Exec(ctx, logImport+` FROM servers HAVING count(*) > 0`, change); err != nil {
				return err
			}
			did = true
			return nil
		}
		// Replace: COPY into a scratch table; lock the rows it replaces
		// in key order (the order updates lock rows in, so an import and
		// updates or two imports cannot deadlock); take the change number;
		// then upsert.
		if _, err := tx.Exec(ctx, `CREATE TEMP TABLE import_servers (LIKE servers INCLUDING DEFAULTS) ON COMMIT DROP`); err != nil {
			return err
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"import_servers"}, serverColumnList, pgx.CopyFromRows(rows)); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `SELECT 1 FROM servers
			WHERE (server_group, host) IN (SELECT server_group, host FROM import_servers)
			ORDER BY server_group, host FOR UPDATE`); err != nil {
			return err
		}
		var change int64
		if err := scanCounter(tx.QueryRow(ctx, bumpCounter), &change); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO servers (`+serverColumns+`, stale_after_ns, head, change)
			SELECT `+serverColumns+`, stale_after_ns, head, $1::bigint FROM import_servers
			ORDER BY server_group, host`+upsertSet, change); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, logImport+` FROM import_servers HAVING count(*) > 0`, change); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO meta (key, value) VALUES ($1, $2)
			ON CONFLICT (key) DO UPDATE SET value = excluded.value`, metaImportedAt, at); err != nil {
			return err
		}
		did = true
		return nil
	})
	if errors.Is(err, errSkip) {
		return false, nil
	}
	if err != nil {
		return false, s.err("importing servers", err)
	}
	return did, nil
}

// logImport logs an import's keys in the change log, with its number $1,
// as one row; the caller adds the FROM clause naming the rows.
const logImport = `INSERT INTO server_changes (change, server_groups, hosts)
	SELECT $1::bigint, array_agg(server_group), array_agg(host)`

// errSkip makes pgx.BeginFunc roll back a transaction that decided to do
// nothing.
var errSkip = errors.New("skip")

// importRows returns the COPY rows for servers, one per key (the last
// record of a key wins), sorted by key, each with its head and a change
// number of 0 for the caller to set.
func importRows(servers []gitops.Server) [][]any {
	last := make(map[gitops.Key]int, len(servers))
	for i := range servers {
		last[servers[i].Key()] = i
	}
	idx := make([]int, 0, len(last))
	for _, i := range last {
		idx = append(idx, i)
	}
	slices.SortFunc(idx, func(a, b int) int { return gitops.CompareKeys(servers[a].Key(), servers[b].Key()) })
	rows := make([][]any, len(idx))
	for n, i := range idx {
		sv := servers[i].Clone()
		normalize(&sv)
		rows[n] = append(serverArgs(&sv), string(sv.AppendJSONHead(nil)), int64(0))
	}
	return rows
}
