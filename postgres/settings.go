package postgres

import (
	"context"
	"fmt"
)

// SettingWarnings reports server settings that make this store slow down
// over time, one sentence each saying what to change; none when the
// settings are fine. serve logs them at start.
//
// Today that is autovacuum: every update of a server leaves a dead row
// version behind (and so does every write's change counter, see
// migration 0003), and only VACUUM reclaims them. With autovacuum off and
// nobody running VACUUM, the servers table grows by one row version per
// write, and reads and writes slow down within hours: in the load
// benchmark, three runs in a row on one database took read_one from 0.53
// to 0.30 of the ceiling, and a VACUUM ANALYZE brought it back.
func (s *Store) SettingWarnings(ctx context.Context) ([]string, error) {
	var autovacuum, trackCounts string
	err := s.read(ctx, "reading server settings", func(ctx context.Context) error {
		return s.pool.QueryRow(ctx, `SELECT current_setting('autovacuum'), current_setting('track_counts')`).
			Scan(&autovacuum, &trackCounts)
	})
	if err != nil {
		return nil, err
	}
	return settingWarnings(autovacuum, trackCounts), nil
}

// settingWarnings is SettingWarnings on the values of the autovacuum and
// track_counts settings.
func settingWarnings(autovacuum, trackCounts string) []string {
	const why = "so the row versions every update and deletion leaves behind are never reclaimed " +
		"and the store slows down as they pile up"
	var ws []string
	if autovacuum != "on" {
		ws = append(ws, fmt.Sprintf("PostgreSQL has autovacuum = %s, %s; turn it on "+
			"(ALTER SYSTEM SET autovacuum = on; SELECT pg_reload_conf();) or run VACUUM ANALYZE on this database every few minutes", autovacuum, why))
	}
	if trackCounts != "on" {
		// Autovacuum finds the tables to vacuum through these statistics.
		ws = append(ws, fmt.Sprintf("PostgreSQL has track_counts = %s, which keeps autovacuum from finding tables to vacuum, %s; turn it on "+
			"(ALTER SYSTEM SET track_counts = on; SELECT pg_reload_conf();)", trackCounts, why))
	}
	return ws
}
