package sqlite

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	gitops "github.com/gitops-status/gitops-status"
)

// wrapSync makes the syncer sync through wrap, which is given the real
// fsync.
func (y *syncer) wrapSync(wrap func(fsync func() error) error) {
	y.mu.Lock()
	defer y.mu.Unlock()
	fsync := y.sync
	y.sync = func() error { return wrap(fsync) }
}

// TestAnswersWaitForSync checks that a write is answered only after the
// WAL was synced following its commit, and is stored when it is.
func TestAnswersWaitForSync(t *testing.T) {
	s, _ := openTest(t, gitops.StoreOptions{})
	synced := make(chan struct{})
	release := make(chan struct{})
	s.sy.wrapSync(func(fsync func() error) error {
		synced <- struct{}{}
		<-release
		return fsync()
	})

	ctx := context.Background()
	answered := make(chan error, 1)
	go func() {
		_, err := s.Apply(ctx, pipelineUpdate("h", "abc"))
		answered <- err
	}()
	select {
	case <-synced:
	case <-time.After(10 * time.Second):
		t.Fatal("no sync began within 10 s of a write")
	}
	select {
	case err := <-answered:
		t.Fatalf("the write was answered (%v) while its sync had not finished", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	if err := <-answered; err != nil {
		t.Fatal(err)
	}
	if sv, err := s.Get(ctx, gitops.Key{ServerGroup: "g", Host: "h"}); err != nil || sv.CommitSHA != "abc" {
		t.Errorf("after the answer: %+v, %v", sv, err)
	}
}

// TestSyncFailureStopsWrites checks that when the WAL cannot be synced,
// the writes it covered fail and so does every later one, with a message
// that says what to do.
func TestSyncFailureStopsWrites(t *testing.T) {
	s, _ := openTest(t, gitops.StoreOptions{})
	s.sy.wrapSync(func(func() error) error { return errors.New("input/output error") })
	ctx := context.Background()
	for i, host := range []string{"h1", "h2"} {
		_, err := s.Apply(ctx, pipelineUpdate(host, "abc"))
		var ge *gitops.Error
		if !errors.As(err, &ge) || ge.Code != gitops.EUNAVAILABLE || !strings.Contains(err.Error(), "input/output error") ||
			!strings.Contains(err.Error(), "until the service restarts") {
			t.Errorf("write %d after a failed sync: %v; want EUNAVAILABLE naming the error and the restart", i+1, err)
		}
	}
	// The second write was refused before it ran: only the first, whose
	// fate the failed sync left unknown, may be stored.
	if _, err := s.Get(ctx, gitops.Key{ServerGroup: "g", Host: "h2"}); gitops.ErrorCode(err) != gitops.ENOTFOUND {
		t.Errorf("Get h2 after its write was refused: %v, want ENOTFOUND", err)
	}
}

// TestWritesGatherDuringSync checks that writes arriving while the WAL is
// being synced are committed together once it is, not one commit each.
func TestWritesGatherDuringSync(t *testing.T) {
	s, batches := openBatchLog(t)
	release := holdSyncs(s)
	first := applyEach(s, "first", 1, 50*time.Millisecond) // committed; its sync waits for release
	rest := applyEach(s, "h", 10, 20*time.Millisecond)
	release()
	awaitAnswers(t, first, 1)
	awaitAnswers(t, rest, 10)
	if got := batches(); !slices.Equal(got, []int{1, 10}) {
		t.Errorf("batches committed: %v; want [1 10]: the ten writes that came during the first one's sync in one", got)
	}
}

// TestCommitsWaitForTheGap sends writes 10 ms apart to a writer whose
// syncer is never busy long, with commits at least 300 ms apart unless no
// write came for 100 ms: the writes that arrive within the gap after a
// commit are committed together when it ends, not each on its own as they
// arrive.
func TestCommitsWaitForTheGap(t *testing.T) {
	widenGaps(t, 300*time.Millisecond, 100*time.Millisecond)
	s, batches := openBatchLog(t)
	if _, err := s.Apply(context.Background(), pipelineUpdate("first", "abc")); err != nil {
		t.Fatal(err)
	}
	awaitAnswers(t, applyEach(s, "h", 5, 10*time.Millisecond), 5)
	if got := batches(); !slices.Equal(got, []int{1, 5}) {
		t.Errorf("batches committed: %v; want [1 5]: the five writes that came within the gap after the first commit in one", got)
	}
}

// TestFullBatchCommitsAtOnce holds the syncer while fullBatch writes
// arrive, with the gap and the idle wait far longer than the test: a batch
// that large is committed as soon as the sync ends, without waiting for
// more, as many concurrent writers need (they send nothing more until
// they are answered).
func TestFullBatchCommitsAtOnce(t *testing.T) {
	widenGaps(t, time.Hour, 5*time.Second)
	s, batches := openBatchLog(t)
	release := holdSyncs(s)
	first := applyEach(s, "first", 1, 50*time.Millisecond) // committed; its sync waits for release
	rest := applyEach(s, "h", fullBatch, 0)
	time.Sleep(100 * time.Millisecond) // all queued behind the first sync
	start := time.Now()
	release()
	awaitAnswers(t, first, 1)
	awaitAnswers(t, rest, fullBatch)
	if d := time.Since(start); d >= idleGap/2 {
		t.Errorf("a batch of %d took %v after the sync to be answered: it waited for writes that could not come", fullBatch, d)
	}
	if got := batches(); !slices.Equal(got, []int{1, fullBatch}) {
		t.Errorf("batches committed: %v; want [1 %d]", got, fullBatch)
	}
}

// openBatchLog opens a test store that records the size of every batch it
// commits; batches returns them so far.
func openBatchLog(t *testing.T) (s *Store, batches func() []int) {
	var mu sync.Mutex
	var log []int
	s, _ = openTest(t, gitops.StoreOptions{ObserveBatch: func(n int) {
		mu.Lock()
		log = append(log, n)
		mu.Unlock()
	}})
	return s, func() []int {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(log)
	}
}

// holdSyncs makes every fsync of s wait until release is called.
func holdSyncs(s *Store) (release func()) {
	ch := make(chan struct{})
	s.sy.wrapSync(func(fsync func() error) error {
		<-ch
		return fsync()
	})
	return func() { close(ch) }
}

// applyEach starts n writes, each of a server named prefix and its number
// on its own goroutine, waiting spacing after starting each, and returns
// where their answers arrive.
func applyEach(s *Store, prefix string, n int, spacing time.Duration) <-chan error {
	answered := make(chan error, n)
	for i := range n {
		go func() {
			_, err := s.Apply(context.Background(), pipelineUpdate(fmt.Sprintf("%s%d", prefix, i), "abc"))
			answered <- err
		}()
		time.Sleep(spacing)
	}
	return answered
}

// awaitAnswers fails t unless n answers, none of them an error, arrive on
// answered within a minute.
func awaitAnswers(t *testing.T, answered <-chan error, n int) {
	t.Helper()
	for range n {
		select {
		case err := <-answered:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(time.Minute):
			t.Fatal("the writes were not answered within a minute")
		}
	}
}

// widenGaps sets commitGap and idleGap for the test, and sets them back
// after the stores the test opens afterwards are closed (cleanups run
// last-registered first), since their writers read them.
func widenGaps(t *testing.T, commit, idle time.Duration) {
	g, i := commitGap, idleGap
	t.Cleanup(func() { commitGap, idleGap = g, i })
	commitGap, idleGap = commit, idle
}
