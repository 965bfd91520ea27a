package sqlite

import (
	"context"
	"database/sql"
	"net/url"
	"time"
)

// Checkpoints. In WAL mode a commit appends the pages it changed to the
// WAL, and a checkpoint later copies them into the database file and
// fsyncs it. SQLite's default runs that checkpoint inside the commit that
// takes the WAL past 1,000 pages; with a large fleet that is every second
// or third batch, and the writer, which every write waits for, spends a
// sixth of its time copying pages and then waits for the database file's
// fsync. Here a checkpointer on its own connection copies them while the
// writer goes on with the next batch, which WAL mode allows: a PASSIVE
// checkpoint takes no lock a writer needs.
//
// Copying is not enough to keep the WAL small: SQLite starts writing it
// from its beginning again only when a write transaction begins with
// every page of it already copied, and a checkpoint running beside a busy
// writer is always a batch behind. So the writer keeps SQLite's own
// checkpoint, at a higher threshold (restartPages): by then the
// checkpointer has copied all but the last batches, the writer copies
// those few itself, and its next transaction starts the WAL afresh.

// restartPages is the writer's wal_autocheckpoint: under writes that never
// pause, the WAL grows to about this many pages (4 KiB each, 512 MiB)
// before it starts again from the beginning. The writer's checkpoint
// there ends with an fsync of the database file, which every write waits
// for; on a busy disk it took 70–130 ms, longer than a fleet of 400,000
// takes to send 512 reports, and with a 64 MiB WAL it came every one to
// two seconds (docs/performance.md). A WAL that starts again only when it
// is this large makes that wait eight times rarer. A store whose writes
// pause now and then (the checkpointer then copies everything) starts its
// WAL again long before.
var restartPages = 131072 // a variable so that tests can make the WAL start again sooner

// checkpointGap is the least time between two checkpoints: one copies a
// page changed by several batches once, and fsyncs the file once.
const checkpointGap = 50 * time.Millisecond

// Near restartPages the checkpointer copies after every commit instead
// (restartGap). The writer's checkpoint there copies what the checkpointer
// has not, then flushes the database file, inside a commit that every
// write waits for; and fsync flushes every page of the file not yet on
// disk, whoever wrote it. A checkpointer a gap behind left it a gap's
// pages to copy and more to flush: at 400,000 servers that commit took
// 22–224 ms every ~7 s, and each one past ~50 ms dropped reports. Copying
// after each commit in the WAL's last eighth leaves the writer a batch or
// two to copy, onto a file just flushed: in the same runs no such commit
// took over 47 ms (docs/performance.md, eleventh session). It costs a few
// more copies and flushes in that eighth only.
const restartGap = 2 * time.Millisecond

// nextGap is how long the checkpointer waits after a checkpoint that found
// walFrames frames in the WAL, when the writer's threshold is restart.
func nextGap(walFrames, restart int) time.Duration {
	if walFrames >= restart-restart/8 {
		return restartGap
	}
	return checkpointGap
}

// checkpointer runs PASSIVE checkpoints on its own connection when poked.
type checkpointer struct {
	db   *sql.DB
	poke chan struct{}
	stop chan struct{}
	done chan struct{}
	// restart is restartPages when the store opened, which the writer's
	// connection has for its threshold.
	restart int
}

// startCheckpointer opens the checkpointer's connection to path and starts
// it. The writer's connection must have wal_autocheckpoint set to
// restartPages (setWriterPragmas).
func startCheckpointer(ctx context.Context, path string) (*checkpointer, error) {
	db, err := sql.Open("sqlite", dsn(path, url.Values{}))
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, err
	}
	c := &checkpointer{db: db, poke: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}), restart: restartPages}
	go c.run()
	return c, nil
}

// committed tells the checkpointer a batch was committed. It never blocks:
// pokes that arrive during a checkpoint make one more.
func (c *checkpointer) committed() {
	select {
	case c.poke <- struct{}{}:
	default:
	}
}

func (c *checkpointer) run() {
	defer close(c.done)
	for {
		select {
		case <-c.stop:
			return
		case <-c.poke:
		}
		start := time.Now()
		gap := nextGap(c.checkpoint(), c.restart)
		select {
		case <-c.stop:
			return
		case <-time.After(gap - time.Since(start)):
		}
	}
}

// checkpoint runs one PASSIVE checkpoint and returns how many frames the
// WAL holds. A failure (SQLITE_BUSY while the writer checkpoints, an I/O
// error) leaves the pages in the WAL, where reads find them; the next poke
// tries again, and the writer's own checkpoint is there when the WAL
// reaches restartPages. It then returns 0 or less.
func (c *checkpointer) checkpoint() int {
	var busy, frames, copied int
	if err := c.db.QueryRow(`PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &frames, &copied); err != nil {
		return 0
	}
	return frames
}

// close stops the checkpointer and closes its connection. The writer's
// connection, closed last, checkpoints what is left.
func (c *checkpointer) close() error {
	close(c.stop)
	<-c.done
	return c.db.Close()
}
