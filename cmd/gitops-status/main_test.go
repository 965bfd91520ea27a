package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// binPath is the gitops-status binary built once for the subprocess tests.
var binPath string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "gitops-status-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binPath = filepath.Join(dir, "gitops-status")
	build := exec.Command("go", "build", "-o", binPath, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building gitops-status: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// proc is a running gitops-status serve process.
type proc struct {
	t      *testing.T
	cmd    *exec.Cmd
	URL    string
	stderr *syncBuffer
	done   chan struct{}
	err    error
	addr   chan string
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var listenRE = regexp.MustCompile(`msg=listening addr=(\S+)|"msg":"listening","addr":"([^"]+)"`)

// startServe starts the binary with serve on a free loopback port and waits
// until it listens. extraEnv entries are added to the environment.
func startServe(t *testing.T, extraEnv []string, args ...string) *proc {
	t.Helper()
	p := launch(t, extraEnv, args...)
	p.waitListening()
	return p
}

// launch starts serve without waiting, so several replicas can start at once.
func launch(t *testing.T, extraEnv []string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(binPath, append([]string{"serve", "--addr", "127.0.0.1:0"}, args...)...)
	cmd.Env = append(os.Environ(), extraEnv...)
	pr, pw := io.Pipe()
	p := &proc{t: t, cmd: cmd, stderr: &syncBuffer{}, done: make(chan struct{}), addr: make(chan string, 1)}
	cmd.Stderr = io.MultiWriter(pw, p.stderr)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = cmd.Wait()
		pw.Close()
		close(p.done)
	}()
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			if m := listenRE.FindStringSubmatch(sc.Text()); m != nil {
				p.addr <- m[1] + m[2]
				break
			}
		}
		io.Copy(io.Discard, pr)
	}()
	t.Cleanup(func() { p.kill() })
	return p
}

func (p *proc) waitListening() {
	p.t.Helper()
	select {
	case a := <-p.addr:
		p.URL = "http://" + a
	case <-p.done:
		p.t.Fatalf("gitops-status exited before listening: %v\n%s", p.err, p.stderr)
	case <-time.After(20 * time.Second):
		p.t.Fatalf("gitops-status did not listen within 20s\n%s", p.stderr)
	}
}

// logged reports whether the process's stderr holds substr within a few
// seconds: the server logs before it answers, but the pipe from its stderr
// reaches the test's buffer a moment later.
func (p *proc) logged(substr string) bool {
	deadline := time.Now().Add(10 * time.Second)
	for {
		if strings.Contains(p.stderr.String(), substr) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (p *proc) kill() {
	select {
	case <-p.done:
	default:
		p.cmd.Process.Kill()
		<-p.done
	}
}

// wait waits for the process to exit and returns its exit code.
func (p *proc) wait(timeout time.Duration) int {
	p.t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		p.t.Fatalf("gitops-status did not exit within %s\n%s", timeout, p.stderr)
	}
	return p.cmd.ProcessState.ExitCode()
}

var client = &http.Client{Timeout: 10 * time.Second}

func post(t *testing.T, url, body string) (int, map[string]any) {
	t.Helper()
	resp, err := client.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	var m map[string]any
	json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

func getJSON(t *testing.T, url string, v any) int {
	t.Helper()
	resp, err := client.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil && resp.StatusCode == 200 {
		t.Fatalf("GET %s: decoding: %v", url, err)
	}
	return resp.StatusCode
}

func pipelineBody(group, host, sha string) string {
	return fmt.Sprintf(`{"server_group":%q,"host":%q,"status":"synced","commit_sha":%q,"branch":"master",
		"changed_files":["/etc/a.conf","/etc/b.conf","/etc/c.conf"],"validation_status":"passed","updated_by":"test"}`, group, host, sha)
}

// writeUntilStopped sends pipeline writes from n goroutines until stop is
// closed, and returns, per host, the commit of the last acknowledged write.
func writeUntilStopped(t *testing.T, url string, n int, stop <-chan struct{}) map[string]string {
	var mu sync.Mutex
	acked := map[string]string{}
	var wg sync.WaitGroup
	for w := 0; w < n; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			host := fmt.Sprintf("host-%02d", w)
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				sha := fmt.Sprintf("%02d%038d", w, i)
				resp, err := client.Post(url+"/status/pipeline", "application/json", strings.NewReader(pipelineBody("grp", host, sha)))
				if err != nil {
					return // the server went away: this write was not acknowledged
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == 200 {
					mu.Lock()
					acked[host] = sha
					mu.Unlock()
				}
			}
		}(w)
	}
	wg.Wait()
	return acked
}

// checkAcked asserts that every acknowledged write is stored: for each host
// the stored commit is the last acknowledged one or a later write's (a write
// may commit but lose its answer when the process dies).
func checkAcked(t *testing.T, url string, acked map[string]string) {
	t.Helper()
	if len(acked) == 0 {
		t.Fatal("no write was acknowledged; the test proved nothing")
	}
	for host, sha := range acked {
		var rec map[string]any
		if code := getJSON(t, url+"/status/grp/"+host, &rec); code != 200 {
			t.Fatalf("acknowledged server grp/%s is gone after restart: %d", host, code)
		}
		if got, _ := rec["commit_sha"].(string); got < sha {
			t.Errorf("grp/%s: stored commit %s is older than the acknowledged %s", host, got, sha)
		}
	}
}

func TestKill9LosesNoAcknowledgedWrite(t *testing.T) {
	dir := t.TempDir()
	p := startServe(t, nil, "--data-dir", dir)
	stop := make(chan struct{})
	var acked map[string]string
	done := make(chan struct{})
	go func() { acked = writeUntilStopped(t, p.URL, 16, stop); close(done) }()
	time.Sleep(700 * time.Millisecond)
	p.cmd.Process.Signal(syscall.SIGKILL)
	p.wait(10 * time.Second)
	close(stop)
	<-done

	p2 := startServe(t, nil, "--data-dir", dir)
	checkAcked(t, p2.URL, acked)
	t.Logf("%d hosts with acknowledged writes all survived kill -9", len(acked))
}

func TestSIGTERMFinishesInFlightAndExitsZero(t *testing.T) {
	dir := t.TempDir()
	p := startServe(t, nil, "--data-dir", dir)
	stop := make(chan struct{})
	var acked map[string]string
	done := make(chan struct{})
	go func() { acked = writeUntilStopped(t, p.URL, 16, stop); close(done) }()
	time.Sleep(500 * time.Millisecond)
	p.cmd.Process.Signal(syscall.SIGTERM)
	if code := p.wait(30 * time.Second); code != 0 {
		t.Fatalf("exit code after SIGTERM = %d, want 0\n%s", code, p.stderr)
	}
	close(stop)
	<-done
	if !strings.Contains(p.stderr.String(), "msg=stopped") {
		t.Errorf("no clean stop logged:\n%s", p.stderr)
	}
	p2 := startServe(t, nil, "--data-dir", dir)
	checkAcked(t, p2.URL, acked)
}

func TestRestartKeepsEverything(t *testing.T) {
	dir := t.TempDir()
	p := startServe(t, nil, "--data-dir", dir)
	if code, _ := post(t, p.URL+"/status/pipeline", pipelineBody("rsyslog-prod", "rsyslog-01", "abc1234")); code != 200 {
		t.Fatalf("pipeline: %d", code)
	}
	if code, _ := post(t, p.URL+"/status/cron", `{"server_group":"rsyslog-prod","host":"rsyslog-01","status":"out_of_sync","changed_files":["/etc/rsyslog.conf"]}`); code != 200 {
		t.Fatalf("cron: %d", code)
	}
	var before, after map[string]any
	getJSON(t, p.URL+"/status/rsyslog-prod/rsyslog-01", &before)
	p.cmd.Process.Signal(syscall.SIGTERM)
	p.wait(30 * time.Second)

	p2 := startServe(t, nil, "--data-dir", dir)
	getJSON(t, p2.URL+"/status/rsyslog-prod/rsyslog-01", &after)
	delete(before, "stale")
	delete(after, "stale")
	if !jsonEqual(before, after) {
		t.Fatalf("record changed across restart:\nbefore %v\nafter  %v", before, after)
	}
	var events []map[string]any
	getJSON(t, p2.URL+"/status/rsyslog-prod/rsyslog-01/history", &events)
	if len(events) != 2 {
		t.Fatalf("history after restart has %d events, want 2", len(events))
	}
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

func TestFirstStartImportHappensOnce(t *testing.T) {
	dir := t.TempDir()
	orig, err := os.ReadFile("../../testdata/v2-status.json")
	if err != nil {
		t.Fatal(err)
	}
	importFile := filepath.Join(dir, "status.json")
	if err := os.WriteFile(importFile, orig, 0o644); err != nil {
		t.Fatal(err)
	}
	p := startServe(t, nil, "--data-dir", dir)
	var servers []map[string]any
	if code := getJSON(t, p.URL+"/status", &servers); code != 200 || len(servers) == 0 {
		t.Fatalf("GET /status after first start = %d with %d servers; want the imported ones", code, len(servers))
	}
	n := len(servers)
	first := servers[0]
	req, _ := http.NewRequest("DELETE", fmt.Sprintf("%s/status/%s/%s", p.URL, first["server_group"], first["host"]), nil)
	resp, err := client.Do(req)
	if err != nil || resp.StatusCode != 204 {
		t.Fatalf("DELETE: %v %v", err, resp)
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	p.wait(30 * time.Second)

	p2 := startServe(t, nil, "--data-dir", dir)
	getJSON(t, p2.URL+"/status", &servers)
	if len(servers) != n-1 {
		t.Fatalf("after restart %d servers, want %d: the import must not happen twice", len(servers), n-1)
	}
	now, _ := os.ReadFile(importFile)
	if !bytes.Equal(orig, now) {
		t.Fatal("the import file was modified")
	}
}

func TestRefusesUnusableDataDir(t *testing.T) {
	file := filepath.Join(t.TempDir(), "a-file")
	os.WriteFile(file, nil, 0o644)
	out, err := exec.Command(binPath, "serve", "--addr", "127.0.0.1:0", "--data-dir", filepath.Join(file, "data")).CombinedOutput()
	if err == nil {
		t.Fatal("serve started on a data dir below a regular file")
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	last := lines[len(lines)-1]
	if !strings.Contains(last, "data dir") || !strings.Contains(last, "not writable") {
		t.Fatalf("want one clear line about the data dir, got:\n%s", out)
	}
}

func TestEnvironmentConfiguresServe(t *testing.T) {
	dir := t.TempDir()
	p := startServe(t, []string{"GITOPS_STATUS_DATA_DIR=" + dir, "GITOPS_STATUS_LOG_FORMAT=json", "GITOPS_STATUS_MAX_BODY_BYTES=100"})
	code, _ := post(t, p.URL+"/status/pipeline", pipelineBody("g", "h", "x"))
	if code != 413 {
		t.Fatalf("a 200-byte body with GITOPS_STATUS_MAX_BODY_BYTES=100 got %d, want 413", code)
	}
	if _, err := os.Stat(filepath.Join(dir, "status.db")); err != nil {
		t.Fatalf("GITOPS_STATUS_DATA_DIR was not used: %v", err)
	}
	if !strings.Contains(p.stderr.String(), `"msg":"store open"`) {
		t.Fatalf("GITOPS_STATUS_LOG_FORMAT=json was not used:\n%s", p.stderr)
	}
}

func TestImportExportRoundTrip(t *testing.T) {
	testImportExport(t, func() []string { return []string{"--data-dir", t.TempDir()} })
}

// runCLI runs the program in-process and returns stdout, stderr and the
// exit code.
func runCLI(args ...string) (string, string, int) {
	var out, errb bytes.Buffer
	code := Run(context.Background(), args, &out, &errb, "test")
	return out.String(), errb.String(), code
}

// testImportExport checks import and export on the stores newStore selects
// (it returns the flags naming a new, empty store): export → import →
// export is the identity, a second import replaces same-key servers and
// keeps the others, and an unreadable file is the only failure.
func testImportExport(t *testing.T, newStore func() []string) {
	store := newStore()
	out, errOut, code := runCLI(append(append([]string{"import"}, store...), "../../testdata/v2-status.json")...)
	if code != 0 {
		t.Fatalf("import exit %d: %s", code, errOut)
	}
	if !regexp.MustCompile(`imported \d+ servers .* skipped [1-9]\d*`).MatchString(out) {
		t.Fatalf("import output %q does not say how many were imported and skipped", out)
	}
	exported, errOut, code := runCLI(append([]string{"export"}, store...)...)
	if code != 0 {
		t.Fatalf("export exit %d: %s", code, errOut)
	}
	file := filepath.Join(t.TempDir(), "export.json")
	os.WriteFile(file, []byte(exported), 0o644)
	store2 := newStore()
	if _, errOut, code := runCLI(append(append([]string{"import"}, store2...), file)...); code != 0 {
		t.Fatalf("re-import exit %d: %s", code, errOut)
	}
	again, _, _ := runCLI(append([]string{"export"}, store2...)...)
	if again != exported {
		t.Fatalf("export → import → export changed the document:\n%s\nvs\n%s", exported, again)
	}

	if _, errOut, code := runCLI(append(append([]string{"import"}, store...), "../../testdata/v1-status.json")...); code != 0 {
		t.Fatalf("importing v1 on top: exit %d: %s", code, errOut)
	}
	merged, _, _ := runCLI(append([]string{"export"}, store...)...)
	var before, after struct{ Servers map[string]json.RawMessage }
	json.Unmarshal([]byte(exported), &before)
	json.Unmarshal([]byte(merged), &after)
	if len(after.Servers) != len(before.Servers)+1 || after.Servers["rsyslog/rsyslog-lab"] == nil {
		t.Fatalf("after importing v1 on top: %d servers, want the %d before plus rsyslog/rsyslog-lab", len(after.Servers), len(before.Servers))
	}

	if _, errOut, code := runCLI(append(append([]string{"import"}, store...), "missing.json")...); code == 0 || !strings.Contains(errOut, "cannot read") {
		t.Fatalf("importing a missing file: exit %d, %q", code, errOut)
	}
}

func TestVersion(t *testing.T) {
	out, err := exec.Command(binPath, "version").Output()
	if err != nil || !strings.HasPrefix(string(out), "gitops-status ") {
		t.Fatalf("version: %q %v", out, err)
	}
}

// TestSmokeScript runs scripts/smoke.sh, the README's curl examples, against
// the real binary, so the README's promise is checked on every run.
func TestSmokeScript(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl is not installed")
	}
	p := startServe(t, nil, "--data-dir", t.TempDir())
	out, err := exec.Command("bash", "../../scripts/smoke.sh", p.URL).CombinedOutput()
	if err != nil {
		t.Fatalf("smoke.sh failed: %v\n%s", err, out)
	}
	if strings.Count(string(out), "ok ") < 6 {
		t.Fatalf("smoke.sh ran fewer checks than expected:\n%s", out)
	}
}

// TestExportWhileServing: export reads a SQLite store a server holds, and
// import, which would write behind the server's back, is refused clearly.
func TestExportWhileServing(t *testing.T) {
	dir := t.TempDir()
	p := startServe(t, nil, "--data-dir", dir)
	if code, _ := post(t, p.URL+"/status/pipeline", pipelineBody("grp", "h1", "abc")); code != 200 {
		t.Fatalf("pipeline: %d", code)
	}
	out, errOut, code := runCLI("export", "--data-dir", dir)
	if code != 0 || !strings.Contains(out, `"grp/h1"`) {
		t.Fatalf("export beside a running server: exit %d, %q, %s", code, out, errOut)
	}
	_, errOut, code = runCLI("import", "--data-dir", dir, "../../testdata/v1-status.json")
	if code == 0 || !strings.Contains(errOut, "in use") {
		t.Fatalf("import beside a running server: exit %d, %q; want a refusal saying the database is in use", code, errOut)
	}
}

// TestServeFlagsReachTheAPI checks flags whose effect only shows through
// the API: --stale-after marks a silent server stale, --legacy-group puts
// v1 writes in that group, and an invalid --legacy-group stops the start.
func TestServeFlagsReachTheAPI(t *testing.T) {
	p := startServe(t, nil, "--data-dir", t.TempDir(), "--stale-after", "50ms", "--legacy-group", "legacy")
	if code, _ := post(t, p.URL+"/status/pipeline", pipelineBody("grp", "h1", "abc")); code != 200 {
		t.Fatalf("pipeline: %d", code)
	}
	time.Sleep(100 * time.Millisecond)
	var rec map[string]any
	getJSON(t, p.URL+"/status/grp/h1", &rec)
	if rec["stale"] != true {
		t.Errorf("100ms after its last report with --stale-after 50ms, stale = %v", rec["stale"])
	}
	if code, _ := post(t, p.URL+"/api/status", `{"repo":"rsyslog","server":"lab","sync_status":"SYNCED"}`); code != 200 {
		t.Fatalf("legacy POST: %d", code)
	}
	if code := getJSON(t, p.URL+"/status/legacy/lab", &rec); code != 200 {
		t.Errorf("with --legacy-group legacy, GET /status/legacy/lab = %d, want the v1 write there", code)
	}

	out, err := exec.Command(binPath, "serve", "--addr", "127.0.0.1:0", "--data-dir", t.TempDir(), "--legacy-group", "bad group").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "--legacy-group") {
		t.Fatalf("serve with an invalid --legacy-group: %v\n%s", err, out)
	}
}

// TestDebugAddrServesProfilesApart checks that --debug-addr serves Go's
// profiles on its own listener, and that the service's address does not.
func TestDebugAddrServesProfilesApart(t *testing.T) {
	debug := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	p := startServe(t, nil, "--data-dir", t.TempDir(), "--debug-addr", debug)
	for _, c := range []struct {
		url  string
		want int
	}{
		{"http://" + debug + "/debug/pprof/cmdline", 200},
		{"http://" + debug + "/debug/pprof/heap?debug=1", 200},
		{p.URL + "/debug/pprof/cmdline", 404},
	} {
		resp, err := http.Get(c.url)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("GET %s: %d, want %d", c.url, resp.StatusCode, c.want)
		}
	}
}
