package sqlite

import (
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	gitops "github.com/gitops-status/gitops-status"
)

// Durability without the writer waiting for the disk. With
// synchronous=FULL, SQLite fsyncs the WAL inside every COMMIT, and the
// writer, which every write waits for, spends half its time waiting for
// the disk instead of running the next batch. Here the writer's
// connection commits with synchronous=NORMAL, which writes the WAL
// without syncing it, and a syncer fsyncs the WAL file and only then
// answers the batches it covers: an acknowledged write is on disk exactly
// as with FULL, while the writer is already running the next batch. One
// fsync covers every batch committed before it began.
//
// Recovery is SQLite's own for NORMAL: after a power loss the WAL is read
// up to its last frame whose checksum holds, so a batch whose fsync had
// not finished (and which nobody was told succeeded) is lost whole, never
// in part. NORMAL still syncs the WAL before a checkpoint copies it and
// the database file after, so the WAL starting again from its beginning
// never overwrites pages that are not in the file.
//
// What a batch changed is in the index, and readable, from its COMMIT,
// before its fsync; a read may so see a write that a power loss (not a
// crash of the process: the operating system still has the pages) then
// undoes, and whose writer was never told it succeeded.

// syncer answers committed batches once the WAL is on disk.
type syncer struct {
	wal *os.File
	// sync makes the WAL durable; tests replace it.
	sync func() error

	mu      sync.Mutex
	waiting []syncedBatch
	failed  error // set once an fsync failed; every later write fails
	closing bool
	kick    chan struct{}
	done    chan struct{}
	// pending counts the batches committed and not yet answered; flushed
	// gets a token after each fsync, once pending has dropped. The writer
	// gathers requests while pending > 0 (writer.gather).
	pending atomic.Int32
	flushed chan struct{}
}

// syncedBatch is a committed batch waiting for its fsync.
type syncedBatch struct {
	reqs []*request
	errs []error
}

// startSyncer opens the WAL file beside path (the writer's connection has
// created it) and starts the syncer. The writer's connection must have
// synchronous=NORMAL (setWriterPragmas).
func startSyncer(path string) (*syncer, error) {
	// Read-write: some systems (Windows) flush only a handle that may write.
	wal, err := os.OpenFile(path+"-wal", os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	// The WAL's name must survive a power loss as well as its content.
	if err := syncDir(path); err != nil {
		wal.Close()
		return nil, err
	}
	y := &syncer{wal: wal, kick: make(chan struct{}, 1), done: make(chan struct{}), flushed: make(chan struct{}, 1)}
	y.sync = wal.Sync
	go y.run()
	return y, nil
}

func syncDir(path string) error {
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// committed queues a committed batch to be answered after the next fsync.
// It copies batch and errs, which the writer reuses.
func (y *syncer) committed(batch []*request, errs []error) {
	b := syncedBatch{reqs: append([]*request(nil), batch...), errs: append([]error(nil), errs...)}
	y.mu.Lock()
	if y.failed != nil {
		// The WAL may have lost pages the kernel could not write: this
		// commit cannot be promised either.
		failSynced(b, y.failed)
		y.mu.Unlock()
		return
	}
	y.waiting = append(y.waiting, b)
	y.pending.Add(1)
	y.mu.Unlock()
	select {
	case y.kick <- struct{}{}:
	default:
	}
}

// busy says batches are waiting for or in an fsync.
func (y *syncer) busy() bool { return y.pending.Load() > 0 }

// err is the fsync failure that stopped writes, nil while none did.
func (y *syncer) err() error {
	y.mu.Lock()
	defer y.mu.Unlock()
	return y.failed
}

func (y *syncer) run() {
	defer close(y.done)
	for {
		<-y.kick
		y.mu.Lock()
		batches, closing := y.waiting, y.closing
		y.waiting = nil
		y.mu.Unlock()
		if len(batches) > 0 {
			y.flush(batches)
			// pending drops before the token is sent, so a writer that
			// saw busy() and waits for the token never misses it.
			y.pending.Add(-int32(len(batches)))
			select {
			case y.flushed <- struct{}{}:
			default:
			}
		}
		if closing {
			return
		}
	}
}

// flush fsyncs the WAL and answers batches, committed before it began.
func (y *syncer) flush(batches []syncedBatch) {
	if err := y.sync(); err != nil {
		// After a failed fsync Linux may drop the pages it could not
		// write and report success to the next one: nothing written since
		// the last good fsync can be trusted, so no write is taken until
		// the service restarts and SQLite recovers the database.
		var failed error = gitops.Errorf(gitops.EUNAVAILABLE,
			"the write was committed but could not be synced to disk (%s); writes are refused until the service restarts", oneLine(err))
		y.mu.Lock()
		if y.failed == nil {
			y.failed = failed
		}
		failed = y.failed
		y.mu.Unlock()
		for _, b := range batches {
			failSynced(b, failed)
		}
		return
	}
	for _, b := range batches {
		answer(b.reqs, b.errs)
	}
}

func failSynced(b syncedBatch, err error) {
	for i := range b.errs {
		if b.errs[i] == nil {
			b.errs[i] = err
		}
	}
	answer(b.reqs, b.errs)
}

// close answers what is waiting, after one last fsync, stops the syncer
// and closes the WAL file. The writer has stopped.
func (y *syncer) close() error {
	y.mu.Lock()
	y.closing = true
	y.mu.Unlock()
	select {
	case y.kick <- struct{}{}:
	default:
	}
	<-y.done
	return y.wal.Close()
}
