package sqlite

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	gitops "github.com/gitops-status/gitops-status"
)

// openTest opens a store in a new temporary directory, closed when the
// test ends, and returns it with its path.
func openTest(t *testing.T, opts gitops.StoreOptions) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "status.db")
	s, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, path
}

func pipelineUpdate(host, commit string) *gitops.PipelineUpdate {
	return &gitops.PipelineUpdate{Source: gitops.SourcePipeline, ServerGroup: "g", Host: host,
		Status: gitops.StatusSynced, ChangedFiles: []string{"a.conf"}, CommitSHA: commit,
		ValidationStatus: gitops.ValidationPassed}
}

// walProgress reads, from the WAL index (the -shm file, whose layout is
// SQLite's file format), how many frames the WAL holds and how many of
// them a checkpoint has copied into the database file.
func walProgress(t *testing.T, path string) (frames, copied uint32) {
	t.Helper()
	b, err := os.ReadFile(path + "-shm")
	if err != nil || len(b) < 100 {
		t.Fatalf("reading the WAL index: %d bytes, %v", len(b), err)
	}
	// The header is in the machine's byte order: mxFrame at byte 16,
	// nBackfill at 96 (the first field after the header's two copies).
	return binary.NativeEndian.Uint32(b[16:]), binary.NativeEndian.Uint32(b[96:])
}

// TestCheckpointerCopiesCommits checks that commits reach the database file
// without the writer checkpointing them: with the WAL far below the
// writer's threshold, the checkpointer copies every committed page.
func TestCheckpointerCopiesCommits(t *testing.T) {
	s, path := openTest(t, gitops.StoreOptions{})
	ctx := context.Background()
	for i := range 20 {
		if _, err := s.Apply(ctx, pipelineUpdate(fmt.Sprintf("h%d", i), "abc")); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		frames, copied := walProgress(t, path)
		if frames > 0 && copied == frames {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the WAL holds %d frames and %d were copied into the database 10 s after the last commit", frames, copied)
		}
		time.Sleep(20 * time.Millisecond)
	}
	var ac int
	if err := s.write(ctx, func(w *writer) error {
		return w.conn.QueryRowContext(ctx, `PRAGMA wal_autocheckpoint`).Scan(&ac)
	}); err != nil || ac != restartPages {
		t.Errorf("the writer's wal_autocheckpoint is %d, %v; want %d", ac, err, restartPages)
	}
}

// TestWALStartsAgain checks that under writes that never pause, the WAL
// file stops growing near the writer's threshold: the checkpointer copies
// pages beside the writer, and the writer's own checkpoint lets SQLite
// write the WAL from its beginning again.
func TestWALStartsAgain(t *testing.T) {
	// Set back after the store closes (cleanups run last-registered
	// first): its writer and checkpointer read it when it opens.
	n := restartPages
	t.Cleanup(func() { restartPages = n })
	restartPages = 64
	s, path := openTest(t, gitops.StoreOptions{})
	ctx := context.Background()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var maxFrames uint32
	for g := range 8 {
		wg.Go(func() {
			for i := range 300 {
				if _, err := s.Apply(ctx, pipelineUpdate(fmt.Sprintf("h%d-%d", g, i%40), fmt.Sprint(i))); err != nil {
					t.Error(err)
					return
				}
				if i%10 == 0 {
					frames, _ := walProgress(t, path)
					mu.Lock()
					maxFrames = max(maxFrames, frames)
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	// 2,400 writes wrote thousands of pages (without the writer's own
	// checkpoint the WAL reaches ~5,000); a batch (at most 8 writes here)
	// writes a few dozen, and the writer's checkpoint may find the
	// checkpointer's lock taken a few times in a row.
	if limit := uint32(16 * restartPages); maxFrames > limit {
		t.Errorf("the WAL grew to %d frames; want it to start again near %d", maxFrames, restartPages)
	}
	if maxFrames == 0 {
		t.Error("the WAL index showed no frames")
	}
}

// TestCheckpointerKeepsUpNearRestart checks the checkpointer's pace: a
// gap between checkpoints while the WAL is far from the writer's
// threshold, and a checkpoint after every commit in its last eighth, read
// from the WAL's size as its own checkpoint reports it.
func TestCheckpointerKeepsUpNearRestart(t *testing.T) {
	for _, tc := range []struct {
		frames int
		want   time.Duration
	}{
		{-1, checkpointGap}, // the checkpoint could not run
		{0, checkpointGap},
		{restartPages / 2, checkpointGap},
		{restartPages - restartPages/8 - 1, checkpointGap},
		{restartPages - restartPages/8, restartGap},
		{restartPages, restartGap},
		{2 * restartPages, restartGap}, // the writer's checkpoint found the lock taken
	} {
		if got := nextGap(tc.frames, restartPages); got != tc.want {
			t.Errorf("nextGap(%d) = %v; want %v (restartPages %d)", tc.frames, got, tc.want, restartPages)
		}
	}

	s, path := openTest(t, gitops.StoreOptions{})
	ctx := context.Background()
	for i := range 20 {
		if _, err := s.Apply(ctx, pipelineUpdate(fmt.Sprintf("h%d", i), "abc")); err != nil {
			t.Fatal(err)
		}
	}
	got := s.ckpt.checkpoint()
	if frames, _ := walProgress(t, path); got != int(frames) || got == 0 {
		t.Errorf("the checkpoint reported %d frames in the WAL; the WAL index holds %d", got, frames)
	}
}
