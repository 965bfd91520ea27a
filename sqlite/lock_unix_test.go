//go:build unix

package sqlite_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	gitops "github.com/gitops-status/gitops-status"
	"github.com/gitops-status/gitops-status/sqlite"
)

// TestLockDiesWithProcess holds the lock in a child process, kills it with
// SIGKILL, and opens the database right after: the system released the
// lock with the process, so no stale lock is left behind.
func TestLockDiesWithProcess(t *testing.T) {
	if os.Getenv("SQLITE_TEST_HOLD_LOCK") != "" {
		return // the child is TestHoldLockChild
	}
	path := filepath.Join(t.TempDir(), "status.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestHoldLockChild$")
	cmd.Env = append(os.Environ(), "SQLITE_TEST_HOLD_LOCK="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || line != "locked\n" {
		t.Fatalf("child said %q, %v; want locked", line, err)
	}
	if _, err := sqlite.Open(path, gitops.StoreOptions{}); gitops.ErrorCode(err) != gitops.EUNAVAILABLE {
		t.Fatalf("Open while the child holds the database = %v, want EUNAVAILABLE", err)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	s := mustOpen(t, path, gitops.StoreOptions{})
	if _, err := s.Get(context.Background(), gitops.Key{ServerGroup: "g", Host: "child"}); err != nil {
		t.Errorf("the child's acknowledged write after kill -9: %v", err)
	}
}

// TestHoldLockChild is TestLockDiesWithProcess's child: it opens the store,
// writes, says so, and waits to be killed.
func TestHoldLockChild(t *testing.T) {
	path := os.Getenv("SQLITE_TEST_HOLD_LOCK")
	if path == "" {
		t.Skip("run by TestLockDiesWithProcess")
	}
	s, err := sqlite.Open(path, gitops.StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Apply(context.Background(), pipeline("g", "child", "c")); err != nil {
		t.Fatal(err)
	}
	fmt.Println("locked")
	time.Sleep(time.Minute)
}
