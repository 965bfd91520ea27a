package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"math"
	"net/url"
	"runtime"
	"sync"
	"time"
	"unsafe"

	gitops "github.com/gitops-status/gitops-status"
	"github.com/gitops-status/gitops-status/internal/index"
)

// metaHeadFormat is the meta key naming the encoding of the stored heads
// (see index.HeadFormat).
const metaHeadFormat = "head_format"

// loadIndex reads every server's entry before the writer starts (or
// again, after an import): the head and the two fields it lacks, never the
// whole record (the entry's other fields are read from the head). It also
// makes every stored head current: when the stored heads were written in
// another format than this binary writes, it forgets them all first, in a
// transaction of its own; then, in one transaction on the writer's
// connection, it reads every head and encodes one from the row's columns
// for every row that has none or an unreadable one (rows written before
// migration 0002, or by a binary that does not know heads).
func loadIndex(ctx context.Context, path string, conn *sql.Conn, in *index.Interner) (_ []*index.Entry, err error) {
	if err := checkHeadFormat(ctx, conn); err != nil {
		return nil, err
	}
	// The write lock keeps the rows as they are while other connections
	// read them (readHeads); this process is the only one that writes.
	if _, err := conn.ExecContext(ctx, `BEGIN IMMEDIATE`); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			_, _ = conn.ExecContext(ctx, `ROLLBACK`)
		}
	}()
	var last int64
	if err := conn.QueryRowContext(ctx, `SELECT coalesce(max(rowid), 0) FROM servers`).Scan(&last); err != nil {
		return nil, err
	}
	entries, missing, err := readHeads(ctx, path, last, in)
	if err != nil {
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
		e := in.NewEntry(&sv, head)
		e.RowID = id
		entries = append(entries, e)
	}
	if _, err := conn.ExecContext(ctx, `COMMIT`); err != nil {
		return nil, err
	}
	return entries, nil
}

// readHeads reads every stored head and builds the entries of the
// servers, returning the rowids of rows whose head is missing or cannot be
// read. The rows are split by rowid (up to last) into GOMAXPROCS ranges,
// each read and decoded on a connection and a goroutine of its own, then
// sorted there; the sorted parts are merged. At 400,000 servers one
// goroutine stepping through the rows while others decoded took a whole
// core for the stepping alone, and the load was half of the start.
func readHeads(ctx context.Context, path string, last int64, in *index.Interner) (entries []*index.Entry, missing []int64, err error) {
	n := runtime.GOMAXPROCS(0)
	// Reading every page through the file system costs a system call per
	// page; mapping the file avoids them. The connections, and with them
	// the map, close with the load, so the file's pages do not stay in the
	// process's memory.
	db, err := sql.Open("sqlite", dsn(path, url.Values{"_pragma": {"query_only(1)", "mmap_size(1099511627776)"}}))
	if err != nil {
		return nil, nil, err
	}
	defer db.Close()
	db.SetMaxOpenConns(n)

	type part struct {
		entries []*index.Entry
		missing []int64
		in      *index.Interner
		err     error
	}
	parts := make([]part, n)
	var wg sync.WaitGroup
	for i := range parts {
		// Inclusive rowid bounds; the first and last ranges are open-ended.
		lo, hi := int64(math.MinInt64), int64(math.MaxInt64)
		if i > 0 {
			lo = last/int64(n)*int64(i) + 1
		}
		if i < n-1 {
			hi = last / int64(n) * int64(i+1)
		}
		p := &parts[i]
		p.in = index.NewInterner() // merged into in below
		wg.Go(func() { p.entries, p.missing, p.err = readHeadRange(ctx, db, lo, hi, p.in) })
	}
	wg.Wait()
	sorted := make([][]*index.Entry, 0, n)
	for _, p := range parts {
		if p.err != nil {
			return nil, nil, p.err
		}
		sorted = append(sorted, p.entries)
		missing = append(missing, p.missing...)
		in.Merge(p.in)
	}
	return index.Merge(sorted), missing, nil
}

// readHeadRange is readHeads for the rows whose rowid is in [lo, hi]: the
// entries sorted by key, and the rowids of the rows without a readable
// head.
func readHeadRange(ctx context.Context, db *sql.DB, lo, hi int64, in *index.Interner) (entries []*index.Entry, missing []int64, err error) {
	// The head is read as text: the driver copies a text column once, into
	// a string of its exact size, which the entry copies into its chunk (a
	// blob would be copied once more by database/sql).
	rows, err := db.QueryContext(ctx, `SELECT rowid, CAST(head AS TEXT), imported, legacy_written_at FROM servers
		WHERE rowid BETWEEN ? AND ?`, lo, hi)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	var (
		id       int64
		head     sql.NullString
		imported int64
		legacy   time.Time
	)
	dest := []any{&id, &head, &imported, nullTime{&legacy}}
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return nil, nil, err
		}
		if !head.Valid {
			missing = append(missing, id)
			continue
		}
		// Only read, and copied into the entry.
		b := unsafe.Slice(unsafe.StringData(head.String), len(head.String))
		e, err := index.EntryFromHead(in, b, imported != 0, legacy)
		if err != nil {
			missing = append(missing, id)
			continue
		}
		e.RowID = id
		entries = append(entries, e)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	index.Sort(entries)
	return entries, missing, rows.Close()
}

// checkHeadFormat forgets every stored head when they were written in
// another encoding than this binary's AppendJSONHead writes, and records
// this binary's.
func checkHeadFormat(ctx context.Context, conn *sql.Conn) error {
	format := index.HeadFormat()
	var stored string
	switch err := conn.QueryRowContext(ctx, selectMeta, metaHeadFormat).Scan(&stored); {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return err
	}
	if stored == format {
		return nil
	}
	// Committed before the load, which reads on other connections: a
	// crash in between leaves heads that are NULL, which the next load
	// encodes again.
	if _, err := conn.ExecContext(ctx, `BEGIN IMMEDIATE`); err != nil {
		return err
	}
	_, err := conn.ExecContext(ctx, `UPDATE servers SET head = NULL WHERE head IS NOT NULL`)
	if err == nil {
		_, err = conn.ExecContext(ctx, upsertMeta, metaHeadFormat, format)
	}
	if err != nil {
		_, _ = conn.ExecContext(ctx, `ROLLBACK`)
		return err
	}
	_, err = conn.ExecContext(ctx, `COMMIT`)
	return err
}
