package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// server is a process the benchmark starts and loads: the service or the
// ceiling. It keeps its address across restarts, so clients and the kill -9
// check reach the restarted process at the same place.
type server struct {
	name string
	addr string
	argv []string
	log  string   // file receiving the process's stdout and stderr
	env  []string // added to the benchmark's environment (GODEBUG=gctrace=1)
	// debugAddr is where the process serves /debug/pprof/; "" for none.
	debugAddr string
	cmd       *exec.Cmd
	exited    chan struct{}
}

func newServer(name string, argv []string, addr, log string) *server {
	return &server{name: name, argv: argv, addr: addr, log: log}
}

func (s *server) base() string { return "http://" + s.addr }

// start starts the process and returns the time from its start to the
// first 200 on /ready, polled every 5 ms for at most timeout.
func (s *server) start(ctx context.Context, timeout time.Duration) (time.Duration, error) {
	logf, err := os.OpenFile(s.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return 0, err
	}
	defer logf.Close() // the child holds its own descriptor
	cmd := exec.Command(s.argv[0], s.argv[1:]...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if len(s.env) > 0 {
		cmd.Env = append(os.Environ(), s.env...)
	}
	cmd.SysProcAttr = childAttrs()
	began := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("start %s: %w", s.name, err)
	}
	s.cmd, s.exited = cmd, make(chan struct{})
	go func(exited chan struct{}) { _ = cmd.Wait(); close(exited) }(s.exited)
	if err := s.waitReady(ctx, timeout); err != nil {
		s.kill()
		return 0, fmt.Errorf("%s did not become ready: %w\n%s", s.name, err, logTail(s.log, 15))
	}
	return time.Since(began), nil
}

func (s *server) waitReady(ctx context.Context, timeout time.Duration) error {
	// A fresh connection per probe: a kept-alive one could outlive a
	// killed predecessor on the same address.
	tr := &http.Transport{DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: time.Second}
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		resp, err := client.Get(s.base() + "/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		select {
		case <-s.exited:
			return fmt.Errorf("process exited (%v)", s.cmd.ProcessState)
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
	return fmt.Errorf("no 200 on /ready within %v (last: %s)", timeout, last)
}

func (s *server) running() bool {
	if s.cmd == nil {
		return false
	}
	select {
	case <-s.exited:
		return false
	default:
		return true
	}
}

// stop asks the process to shut down gracefully and kills it after 15 s.
func (s *server) stop() {
	if !s.running() {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(15 * time.Second):
		s.kill()
	}
}

// kill sends SIGKILL and waits until the process is gone.
func (s *server) kill() {
	if !s.running() {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.exited
}

func (s *server) rssMiB() (float64, error) {
	if !s.running() {
		return 0, errors.New("not running")
	}
	return rssMiB(s.cmd.Process.Pid)
}

func (s *server) cpuTime() (time.Duration, error) {
	if !s.running() {
		return 0, errors.New("not running")
	}
	return cpuTime(s.cmd.Process.Pid)
}

// freeAddr finds a free 127.0.0.1 port. The port is released before the
// server binds it; on a machine that is not handing out ports in a storm
// nothing takes it in between.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// dirMiB sums the sizes of the regular files under dir.
func dirMiB(dir string) (float64, error) {
	var total int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		total += info.Size()
		return nil
	})
	return float64(total) / (1 << 20), err
}

// logTail returns the last n lines of a server's log, to say why it failed.
func logTail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil || len(bytes.TrimSpace(b)) == 0 {
		return "  (the process printed nothing)"
	}
	lines := strings.Split(string(bytes.TrimRight(b, "\n")), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "  | " + strings.Join(lines, "\n  | ")
}

// buildService builds the real binary from the module that holds the
// current directory, so `go run ./bench/load` measures the code beside it.
func buildService(ctx context.Context, dir string) (string, error) {
	gomod, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(gomod)))
	bin := filepath.Join(dir, "gitops-status")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/gitops-status")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/gitops-status: %w\n%s", err, out)
	}
	return bin, nil
}
