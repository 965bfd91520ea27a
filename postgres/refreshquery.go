package postgres

import "strings"

// cachedColumn is one column of serverColumns as the refresh reads it.
// keep columns are read for every row (the index filters on them, the
// per-server metrics read them, LegacyLatest orders by them, a record's
// head is found by them, or they are not in the head); the others only for
// rows without a head, which are encoded from their columns, and are empty
// otherwise, as they are in the placeholder rows of the counter and of
// deletions.
type cachedColumn struct {
	name  string
	keep  bool
	empty string
}

var cachedColumns = []cachedColumn{
	{"server_group", true, "''"}, {"host", true, "''"},
	{"project_name", false, "''"}, {"repo_name", true, "''"},
	{"server_type", true, "''"}, {"environment", true, "''"}, {"status", true, "''"},
	{"changed_files", false, "'{}'::text[]"},
	{"validation_status", true, "''"},
	{"validation_message", false, "''"}, {"commit_sha", true, "''"}, {"branch", true, "''"}, {"updated_by", false, "''"},
	{"last_pipeline_run", true, "NULL::timestamptz"}, {"last_cron_check", true, "NULL::timestamptz"},
	{`"timestamp"`, true, "NULL::timestamptz"}, {"status_since", true, "NULL::timestamptz"},
	{"last_source", false, "''"}, {"labels", false, "'{}'::jsonb"},
	{"pipeline_status", false, "''"}, {"drift_status", false, "''"},
	{"stale_after", true, "''"},
	{"pipeline_reported_at", false, "NULL::timestamptz"}, {"cron_reported_at", false, "NULL::timestamptz"},
	{"legacy_written_at", true, "NULL::timestamptz"}, {"imported", true, "false"},
}

// Row kinds of the refresh statement.
const (
	kindCounter  = 0 // change: the counter's n; extra: its horizon
	kindServer   = 1 // a row; extra: how many changed files it lists
	kindDeletion = 2 // server_group and host of a deleted server
)

// refreshQuery is the refresh statement: the counter row, then every
// server, or (delta) every server whose key the change log (server_changes)
// lists above $1, and every deletion numbered above $1. Each row is
// serverColumns as cachedColumns reads them, then head, change, kind and
// extra (see the kinds).
//
// A delta reads the current row of each key logged above $1, by primary
// key, not the version logged: one snapshot holds the counter's n and the
// rows, so the current row is the key's state at n, whatever number
// logged it, and a key logged many times is read once (IN). A key logged
// whose row is gone was deleted, and its deletion is in server_deletions
// (numbered above $1 too); the row's change orders a deletion against a
// later re-creation of the key (see readChanges).
func refreshQuery(delta bool) string {
	var counter, server, deletion strings.Builder
	for i, col := range cachedColumns {
		if i > 0 {
			counter.WriteString(", ")
			server.WriteString(", ")
			deletion.WriteString(", ")
		}
		counter.WriteString(col.empty)
		switch {
		case col.keep:
			server.WriteString(col.name)
		default:
			server.WriteString("CASE WHEN head IS NULL THEN " + col.name + " ELSE " + col.empty + " END")
		}
		switch col.name {
		case "server_group", "host":
			deletion.WriteString(col.name)
		default:
			deletion.WriteString(col.empty)
		}
	}
	q := `SELECT ` + counter.String() + `, NULL::text, n, 0, horizon FROM server_change_counter WHERE id = true
	UNION ALL
	SELECT ` + server.String() + `, head, change, 1, cardinality(changed_files) FROM servers`
	if delta {
		q += ` WHERE (server_group, host) IN (SELECT k.server_group, k.host
		FROM server_changes c, unnest(c.server_groups, c.hosts) AS k(server_group, host)
		WHERE c.change > $1 AND c.change <> ALL ($2::bigint[]))
	UNION ALL
	SELECT ` + deletion.String() + `, NULL, change, 2, 0 FROM server_deletions WHERE change > $1`
	}
	return q + headRows(delta)
}

var (
	refreshDelta = refreshQuery(true)
	refreshFull  = refreshQuery(false)
)
