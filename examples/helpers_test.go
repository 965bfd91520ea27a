// Package examples_test runs the integration examples of examples/ for
// real, each against a gitops-status server it starts: the Ansible
// playbook with ansible-playbook, the cron drift script with dash, the CI
// snippets' shell steps with each CI's variables, the legacy v1 curl. So
// an example that stops working fails the build instead of a user.
package examples_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	gitops "github.com/gitops-status/gitops-status"
	"github.com/gitops-status/gitops-status/internal/tooltest"
)

// binDir holds the gitops-status binary built for these tests; it is put
// first on the PATH of every example run, as a CI image would have it.
var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "gitops-status-examples-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	build := exec.Command("go", "build", "-o", filepath.Join(dir, "gitops-status"), "../cmd/gitops-status")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building gitops-status: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// needTools skips the test when a tool is missing, or fails it when
// GITOPS_STATUS_REQUIRE_TOOLS=1 (CI installs them all).
func needTools(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		tooltest.Need(t, tool)
	}
}

// exampleEnv is the environment of an example run: PATH (binDir first)
// and a HOME of its own, nothing else of the test machine's, which may be a
// CI with CI_* variables of its own; plus env.
func exampleEnv(t *testing.T, env ...string) []string {
	return append([]string{
		"PATH=" + binDir + string(os.PathListSeparator) + os.Getenv("PATH"),
		"HOME=" + t.TempDir(),
		"LANG=C.UTF-8",
	}, env...)
}

type server struct {
	URL string
}

var listening = regexp.MustCompile(`msg=listening addr=(\S+)`)

// startServer starts gitops-status serve on a free loopback port with a
// data dir of its own and stops it when the test ends.
func startServer(t *testing.T, args ...string) *server {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "gitops-status"), append([]string{"serve", "--addr", "127.0.0.1:0", "--data-dir", t.TempDir()}, args...)...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	addr := make(chan string, 1)
	var log bytes.Buffer
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			log.WriteString(sc.Text() + "\n")
			if m := listening.FindStringSubmatch(sc.Text()); m != nil {
				addr <- m[1]
				break
			}
		}
		io.Copy(io.Discard, stderr)
	}()
	select {
	case a := <-addr:
		return &server{URL: "http://" + a}
	case <-time.After(20 * time.Second):
		t.Fatalf("gitops-status serve did not listen within 20s")
	}
	return nil
}

// record returns a stored record and the status of the answer.
func (s *server) record(t *testing.T, group, host string) (gitops.Server, int) {
	t.Helper()
	resp, err := http.Get(s.URL + "/status/" + group + "/" + host)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var rec gitops.Server
	if resp.StatusCode == 200 {
		if err := json.NewDecoder(resp.Body).Decode(&rec); err != nil {
			t.Fatal(err)
		}
	}
	return rec, resp.StatusCode
}

func (s *server) mustRecord(t *testing.T, group, host string) gitops.Server {
	t.Helper()
	rec, code := s.record(t, group, host)
	if code != 200 {
		t.Fatalf("%s/%s is not stored: GET answered %d", group, host, code)
	}
	return rec
}

// forget deletes a record, so that the next check sees only what the next
// run writes.
func (s *server) forget(t *testing.T, group, host string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodDelete, s.URL+"/status/"+group+"/"+host, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
}

// run runs a command in dir with env and returns its combined output and
// exit code.
func run(t *testing.T, dir string, env []string, stdin string, name string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = env
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatalf("%s %v: %v", name, args, err)
	}
	return string(out), cmd.ProcessState.ExitCode()
}

// copyDir copies the example directory src into a new temporary
// directory, so a test may change it.
func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.WalkDir(src, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		info, _ := d.Info()
		return os.WriteFile(target, b, info.Mode().Perm())
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}
