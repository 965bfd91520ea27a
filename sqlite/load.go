package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"
	"unsafe"

	gitops "github.com/gitops-status/gitops-status"
	"github.com/gitops-status/gitops-status/internal/index"
)

// metaHeadFormat is the meta key naming the encoding of the stored heads
// (see headFormat).
const metaHeadFormat = "head_format"

// loadIndex reads every server's entry on the writer's connection before
// the writer starts: the head and the two fields it lacks, never the whole
// record (the entry's other fields are read from the head). In the same
// transaction it makes every stored head current: when the stored heads
// were written in another format than this binary writes, it forgets them
// all first; then it encodes a head from the row's columns for every row
// that has none or an unreadable one (rows written before migration 0002,
// or by a binary that does not know heads).
func loadIndex(ctx context.Context, conn *sql.Conn, in index.Interner) (_ []*index.Entry, err error) {
	if _, err := conn.ExecContext(ctx, `BEGIN IMMEDIATE`); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			_, _ = conn.ExecContext(ctx, `ROLLBACK`)
		}
	}()
	// Reading every page through the file system costs a system call per
	// page; mapping the file for the load avoids them. The map goes with
	// the load, so the file's pages do not stay in the process's memory.
	if _, err := conn.ExecContext(ctx, `PRAGMA mmap_size = 1099511627776`); err != nil {
		return nil, err
	}
	defer conn.ExecContext(ctx, `PRAGMA mmap_size = 0`)
	if err := checkHeadFormat(ctx, conn); err != nil {
		return nil, err
	}
	var n int
	if err := conn.QueryRowContext(ctx, `SELECT count(*) FROM servers`).Scan(&n); err != nil {
		return nil, err
	}
	entries := make([]*index.Entry, 0, n)
	var missing []int64 // rowids of rows without a readable head
	// The head is read as text: the driver copies a text column once, into
	// a string of its exact size that the entry keeps (a blob would be
	// copied twice, and at 100,000 servers the second copy is 80 MiB of
	// garbage at start).
	rows, err := conn.QueryContext(ctx, `SELECT rowid, CAST(head AS TEXT), imported, legacy_written_at FROM servers`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var (
		id, imported  int64
		head          sql.NullString
		legacyWritten time.Time
		dest          = []any{&id, &head, &imported, nullTime{&legacyWritten}}
	)
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return nil, err
		}
		if !head.Valid {
			missing = append(missing, id)
			continue
		}
		// The entry shares the string's bytes; nothing ever writes them.
		b := unsafe.Slice(unsafe.StringData(head.String), len(head.String))
		e, err := entryFromHead(in, b, imported != 0, legacyWritten)
		if err != nil {
			missing = append(missing, id)
			continue
		}
		entries = append(entries, e)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if err := rows.Close(); err != nil {
		return nil, err
	}
	for _, id := range missing {
		var sv gitops.Server
		if err := scanServer(conn.QueryRowContext(ctx, selectServer+` WHERE rowid = ?`, id), &sv); err != nil {
			return nil, err
		}
		normalize(&sv)
		head := sv.AppendJSONHead(nil)
		if _, err := conn.ExecContext(ctx, `UPDATE servers SET head = ? WHERE rowid = ?`, head, id); err != nil {
			return nil, err
		}
		entries = append(entries, in.NewEntry(&sv, head))
	}
	if _, err := conn.ExecContext(ctx, `COMMIT`); err != nil {
		return nil, err
	}
	return entries, nil
}

// checkHeadFormat forgets every stored head when they were written in
// another encoding than this binary's AppendJSONHead writes, and records
// this binary's.
func checkHeadFormat(ctx context.Context, conn *sql.Conn) error {
	format := headFormat()
	var stored string
	switch err := conn.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = ?`, metaHeadFormat).Scan(&stored); {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return err
	}
	if stored == format {
		return nil
	}
	if _, err := conn.ExecContext(ctx, `UPDATE servers SET head = NULL WHERE head IS NOT NULL`); err != nil {
		return err
	}
	_, err := conn.ExecContext(ctx, `INSERT INTO meta (key, value) VALUES (?, ?)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value`, metaHeadFormat, format)
	return err
}
