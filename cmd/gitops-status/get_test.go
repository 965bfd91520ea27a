package main

import (
	"bufio"
	"encoding/json"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	gitops "github.com/gitops-status/gitops-status"
)

func seed(t *testing.T, url string) {
	t.Helper()
	for _, args := range [][]string{
		{"pipeline", "--server-group", "rsyslog-prod", "--host", "rsyslog-01", "--status", "synced", "--validation-status", "passed",
			"--commit-sha", "0123456789abcdef", "--branch", "master", "--environment", "prod", "--label", "dc=fra1"},
		{"cron", "--server-group", "rsyslog-prod", "--host", "rsyslog-01", "--status", "out_of_sync", "/etc/rsyslog.conf", "/etc/rsyslog.d/50-default.conf"},
		{"pipeline", "--server-group", "nginx-prod", "--host", "web-01", "--status", "failed", "--environment", "prod"},
		{"pipeline", "--server-group", "nginx-prod", "--host", "web-02", "--status", "synced", "--environment", "staging"},
	} {
		if _, errOut, code := runCLI(append([]string{"report"}, append(args, "--url", url)...)...); code != 0 {
			t.Fatalf("seeding %v: exit %d: %s", args, code, errOut)
		}
	}
}

var escapes = regexp.MustCompile("\x1b\\[[0-9;]*[A-Za-z]")

func TestGet_table(t *testing.T) {
	p := startServe(t, nil, "--data-dir", t.TempDir())
	seed(t, p.URL)
	out, errOut, code := runCLI("get", "--url", p.URL)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 4 || escapes.MatchString(out) {
		t.Fatalf("want a header and three rows, no colour outside a terminal:\n%s", out)
	}
	header := lines[0]
	for _, col := range []string{"GROUP", "HOST", "STATUS", "SINCE", "VALIDATION", "COMMIT", "BRANCH", "FILES", "LAST REPORT"} {
		if !strings.Contains(header, col) {
			t.Fatalf("header %q lacks %s", header, col)
		}
	}
	// Sorted by group then host, columns aligned under their headers.
	statusCol := strings.Index(header, "STATUS")
	for i, want := range []struct{ key, status string }{{"nginx-prod  web-01", "failed"}, {"nginx-prod  web-02", "synced"}, {"rsyslog-prod  rsyslog-01", "out_of_sync"}} {
		row := lines[i+1]
		if !strings.HasPrefix(strings.Join(strings.Fields(row)[:2], "  "), want.key) || !strings.HasPrefix(row[statusCol:], want.status+" ") {
			t.Fatalf("row %d = %q, want %s %s under STATUS", i+1, row, want.key, want.status)
		}
	}
	if !strings.Contains(lines[3], "0123456789ab  master") || !strings.Contains(lines[3], "(cron)") {
		t.Fatalf("rsyslog-01 row %q", lines[3])
	}

	out, _, code = runCLI("get", "--url", p.URL, "--environment", "prod", "--status", "failed,synced")
	if code != 0 || strings.Count(out, "\n") != 2 || !strings.Contains(out, "web-01") {
		t.Fatalf("filtered: exit %d\n%s", code, out)
	}
	if _, errOut, code := runCLI("get", "--url", p.URL, "--status", "green"); code != 1 || !strings.Contains(errOut, `"green" is not one of`) {
		t.Fatalf("bad --status: exit %d, %s", code, errOut)
	}
	if out, errOut, code := runCLI("get", "--url", p.URL, "nginx-prod", "--status", "out_of_sync"); code != 0 || out != "" || !strings.Contains(errOut, "No servers match") {
		t.Fatalf("empty result: exit %d, %q, %q", code, out, errOut)
	}
}

func TestGet_oneServer(t *testing.T) {
	p := startServe(t, nil, "--data-dir", t.TempDir())
	seed(t, p.URL)
	out, errOut, code := runCLI("get", "--url", p.URL, "rsyslog-prod", "rsyslog-01")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"server:           rsyslog-prod/rsyslog-01", "status:           out_of_sync since ",
		"last deploy:      synced, ", "validation:       passed", "labels:           dc=fra1",
		"changed files:    2\n  /etc/rsyslog.conf\n  /etc/rsyslog.d/50-default.conf\n"} {
		if !strings.Contains(out, want) {
			t.Fatalf("detail lacks %q:\n%s", want, out)
		}
	}
	_, errOut, code = runCLI("get", "--url", p.URL, "rsyslog-prod", "nope")
	if code != 1 || !strings.Contains(errOut, "refused by the server (404 Not Found): server rsyslog-prod/nope not found") {
		t.Fatalf("unknown server: exit %d, %q", code, errOut)
	}
	if _, errOut, code := runCLI("get", "--url", p.URL, "a", "b", "c"); code != 1 || !strings.Contains(errOut, "at most a group and a host") {
		t.Fatalf("three arguments: exit %d, %q", code, errOut)
	}
}

func TestGet_json(t *testing.T) {
	p := startServe(t, nil, "--data-dir", t.TempDir())
	seed(t, p.URL)
	out, _, code := runCLI("get", "--url", p.URL, "-o", "json", "nginx-prod")
	var l []gitops.Server
	if err := json.Unmarshal([]byte(out), &l); code != 0 || err != nil || len(l) != 2 {
		t.Fatalf("get -o json GROUP: exit %d, %v, %s", code, err, out)
	}
	out, _, code = runCLI("get", "--url", p.URL, "-o", "json", "nginx-prod", "web-01")
	var m map[string]any
	if err := json.Unmarshal([]byte(out), &m); code != 0 || err != nil || m["status"] != "failed" || m["changed_files_count"] != 0.0 {
		t.Fatalf("get -o json GROUP HOST: exit %d, %v, %s", code, err, out)
	}
}

func TestGet_unreachable(t *testing.T) {
	url := "http://127.0.0.1:" + strconv.Itoa(freePort(t))
	if _, errOut, code := runCLI("get", "--url", url, "--timeout", "1s"); code != 2 || !strings.Contains(errOut, "could not be reached") {
		t.Fatalf("exit %d, %q", code, errOut)
	}
}

// TestGet_watch refreshes until interrupted; with -o json each refresh is
// one line of JSON, so a script can follow it.
func TestGet_watch(t *testing.T) {
	p := startServe(t, nil, "--data-dir", t.TempDir())
	seed(t, p.URL)
	cmd := exec.Command(binPath, "get", "--watch", "--interval", "200ms", "-o", "json", "nginx-prod")
	cmd.Env = cleanEnv("GITOPS_STATUS_URL=" + p.URL)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	sc := bufio.NewScanner(stdout)
	refresh := func() []gitops.Server {
		t.Helper()
		if !sc.Scan() {
			t.Fatalf("no refresh: %v", sc.Err())
		}
		var l []gitops.Server
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("a refresh is not one JSON document: %v: %s", err, sc.Text())
		}
		return l
	}
	if l := refresh(); len(l) != 2 {
		t.Fatalf("first refresh shows %d servers, want 2", len(l))
	}
	// A change between refreshes shows in a later one (refreshes already
	// written before the change may come first).
	if _, errOut, code := runCLI("report", "pipeline", "--url", p.URL, "--server-group", "nginx-prod", "--host", "web-03", "--status", "synced"); code != 0 {
		t.Fatal(errOut)
	}
	for i := 0; len(refresh()) != 3; i++ {
		if i == 100 {
			t.Fatal("100 refreshes after the change, none shows the new server")
		}
	}
	cmd.Process.Signal(syscall.SIGINT)
	done := make(chan error, 1)
	go func() {
		for sc.Scan() {
		}
		done <- cmd.Wait()
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("get --watch after SIGINT: %v, want exit 0", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("get --watch did not stop on SIGINT")
	}
}

func TestAgo(t *testing.T) {
	now := time.Date(2026, 4, 26, 10, 30, 0, 0, time.UTC)
	tests := []struct {
		t    time.Time
		want string
	}{
		{time.Time{}, "-"},
		{now.Add(3 * time.Second), "just now"},
		{now.Add(-400 * time.Millisecond), "just now"},
		{now.Add(-45 * time.Second), "45s ago"},
		{now.Add(-12*time.Minute - 59*time.Second), "12m ago"},
		{now.Add(-5 * time.Hour), "5h ago"},
		{now.Add(-47 * time.Hour), "47h ago"},
		{now.Add(-73 * time.Hour), "3d ago"},
	}
	for _, tt := range tests {
		if got := ago(now, tt.t); got != tt.want {
			t.Errorf("ago(%s) = %q, want %q", tt.t, got, tt.want)
		}
	}
}

func TestWriteTable_colourKeepsColumnsAligned(t *testing.T) {
	now := time.Date(2026, 4, 26, 10, 30, 0, 0, time.UTC)
	servers := []gitops.Server{
		{ServerGroup: "g", Host: "a", Status: gitops.StatusOutOfSync, StatusSince: now, LastPipelineRun: now, LastSource: gitops.SourcePipeline},
		{ServerGroup: "g", Host: "b", Status: gitops.StatusSynced, StatusSince: now, Stale: true},
	}
	var plain, coloured strings.Builder
	writeTable(&plain, servers, now, false)
	writeTable(&coloured, servers, now, true)
	if !strings.Contains(coloured.String(), "\x1b[33mout_of_sync\x1b[0m") || !strings.Contains(coloured.String(), "\x1b[32msynced\x1b[0m") {
		t.Fatalf("no colours:\n%q", coloured.String())
	}
	if got := escapes.ReplaceAllString(coloured.String(), ""); got != plain.String() {
		t.Fatalf("colour moved the columns:\n%s\nvs\n%s", got, plain.String())
	}
	if !strings.Contains(plain.String(), "-, stale") {
		t.Fatalf("a stale server is not marked:\n%s", plain.String())
	}
}
