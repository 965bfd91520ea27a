package sqlite

import (
	"context"
	"database/sql"
	"errors"
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

// loadIndex reads every server's entry on the writer's connection before
// the writer starts: the head and the two fields it lacks, never the whole
// record (the entry's other fields are read from the head). In the same
// transaction it makes every stored head current: when the stored heads
// were written in another format than this binary writes, it forgets them
// all first; then it encodes a head from the row's columns for every row
// that has none or an unreadable one (rows written before migration 0002,
// or by a binary that does not know heads).
func loadIndex(ctx context.Context, conn *sql.Conn, in *index.Interner) (_ []*index.Entry, err error) {
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
	entries, missing, err := readHeads(ctx, conn, in)
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

// headRow is one row of readHeads's query, head read as text.
type headRow struct {
	id            int64
	head          sql.NullString
	imported      bool
	legacyWritten time.Time
}

// headChunk is how many rows readHeads hands a decoder at once.
const headChunk = 512

// readHeads reads every stored head and builds the entries of the
// servers, returning the rowids of rows whose head is missing or cannot be
// read. One goroutine steps through the rows while GOMAXPROCS others
// decode the heads into entries: at 100,000 servers the two take about as
// long as each other, so start takes about half the time it would in one.
func readHeads(ctx context.Context, conn *sql.Conn, in *index.Interner) (entries []*index.Entry, missing []int64, err error) {
	// The head is read as text: the driver copies a text column once, into
	// a string of its exact size that the entry keeps (a blob would be
	// copied twice, and at 100,000 servers the second copy is 80 MiB of
	// garbage at start).
	rows, err := conn.QueryContext(ctx, `SELECT rowid, CAST(head AS TEXT), imported, legacy_written_at FROM servers`)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()

	type result struct {
		entries []*index.Entry
		missing []int64
		in      *index.Interner
	}
	decoders := runtime.GOMAXPROCS(0)
	work := make(chan []headRow, decoders)
	// Decoded chunks come back for reuse, so the load allocates a few
	// chunks rather than one per 512 rows.
	free := make(chan []headRow, 2*decoders+1)
	results := make(chan result, decoders)
	var wg sync.WaitGroup
	for range decoders {
		wg.Go(func() {
			// Each decoder interns into its own map; they are merged below.
			// Not sized ahead: counting the rows first read every page of
			// the table once more (3 % of a start at 400,000 servers).
			r := result{in: index.NewInterner()}
			for chunk := range work {
				for i := range chunk {
					row := &chunk[i]
					if !row.head.Valid {
						r.missing = append(r.missing, row.id)
						continue
					}
					// The entry shares the string's bytes; nothing ever writes them.
					b := unsafe.Slice(unsafe.StringData(row.head.String), len(row.head.String))
					e, err := index.EntryFromHead(r.in, b, row.imported, row.legacyWritten)
					if err != nil {
						r.missing = append(r.missing, row.id)
						continue
					}
					e.RowID = row.id
					r.entries = append(r.entries, e)
				}
				clear(chunk) // the entries keep the heads, not the chunk
				select {
				case free <- chunk[:0]:
				default:
				}
			}
			// Each decoder sorts its own entries, so the index gets them
			// merged and sorted instead of sorting them all on one core.
			index.Sort(r.entries)
			results <- r
		})
	}

	var imported int64
	var row headRow
	dest := []any{&row.id, &row.head, &imported, nullTime{&row.legacyWritten}}
	chunk := make([]headRow, 0, headChunk)
	for rows.Next() {
		if err = rows.Scan(dest...); err != nil {
			break
		}
		row.imported = imported != 0
		chunk = append(chunk, row)
		if len(chunk) == headChunk {
			work <- chunk
			select {
			case chunk = <-free:
			default:
				chunk = make([]headRow, 0, headChunk)
			}
		}
	}
	if err == nil {
		err = rows.Err()
	}
	if len(chunk) > 0 {
		work <- chunk
	}
	close(work)
	wg.Wait()
	close(results)
	parts := make([][]*index.Entry, 0, decoders)
	for r := range results {
		parts = append(parts, r.entries)
		missing = append(missing, r.missing...)
		in.Merge(r.in)
	}
	entries = index.Merge(parts)
	if err != nil {
		return nil, nil, err
	}
	return entries, missing, rows.Close()
}

// checkHeadFormat forgets every stored head when they were written in
// another encoding than this binary's AppendJSONHead writes, and records
// this binary's.
func checkHeadFormat(ctx context.Context, conn *sql.Conn) error {
	format := index.HeadFormat()
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
