package main

import (
	"bytes"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	gitops "github.com/gitops-status/gitops-status"
	"github.com/gitops-status/gitops-status/httpapi"
	"github.com/gitops-status/gitops-status/sqlite"
)

// cleanEnv is the environment of a CLI subprocess: nothing of the test
// machine's own (which may be a CI with its own CI_* variables) but PATH
// and HOME, plus env.
func cleanEnv(env ...string) []string {
	return append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}, env...)
}

// runBin runs the built binary with env, stdin and args and returns its
// stdout, stderr and exit code.
func runBin(t *testing.T, env []string, stdin string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(binPath, args...)
	cmd.Env = cleanEnv(env...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatalf("running %v: %v", args, err)
	}
	return out.String(), errb.String(), cmd.ProcessState.ExitCode()
}

func getRecord(t *testing.T, url, group, host string) (gitops.Server, int) {
	t.Helper()
	var s gitops.Server
	code := getJSON(t, url+"/status/"+group+"/"+host, &s)
	return s, code
}

// TestReport_asEachCIRunsIt runs report pipeline as each CI would: its
// variables set, the changed files on standard input.
func TestReport_asEachCIRunsIt(t *testing.T) {
	p := startServe(t, nil, "--data-dir", t.TempDir())
	const sha = "eba09b46064473a1d345da7abf28b477468e8dbd"
	tests := []struct {
		ci                string
		env               []string
		branch, updatedBy string
	}{
		{"woodpecker", []string{"CI=woodpecker", "CI_COMMIT_SHA=" + sha, "CI_COMMIT_BRANCH=main", "CI_COMMIT_AUTHOR=john-doe", "CI_PIPELINE_AUTHOR=octocat"}, "main", "octocat"},
		{"gitlab-ci", []string{"CI=true", "GITLAB_CI=true", "CI_COMMIT_SHA=" + sha, "CI_COMMIT_BRANCH=master", "CI_COMMIT_REF_NAME=master", "GITLAB_USER_LOGIN=alice"}, "master", "alice"},
		{"github-actions", []string{"CI=true", "GITHUB_ACTIONS=true", "GITHUB_SHA=" + sha, "GITHUB_REF_NAME=main", "GITHUB_ACTOR=octocat"}, "main", "octocat"},
		{"jenkins", []string{"JENKINS_URL=https://jenkins.example/", "GIT_COMMIT=" + sha, "GIT_BRANCH=origin/production"}, "production", "jenkins"},
	}
	for _, tt := range tests {
		t.Run(tt.ci, func(t *testing.T) {
			env := append([]string{"GITOPS_STATUS_URL=" + p.URL}, tt.env...)
			out, errOut, code := runBin(t, env, "/etc/rsyslog.conf\n\n/etc/rsyslog.d/50-default.conf\n",
				"report", "pipeline", "--server-group", "rsyslog-prod", "--host", tt.ci, "--status", "synced",
				"--validation-status", "passed", "--label", "ci="+tt.ci, "--changed-files", "-")
			if code != 0 {
				t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
			}
			if want := "stored rsyslog-prod/" + tt.ci + ": synced (commit " + sha[:12]; !strings.HasPrefix(out, want) {
				t.Fatalf("stdout %q, want it to start with %q", out, want)
			}
			s, _ := getRecord(t, p.URL, "rsyslog-prod", tt.ci)
			if s.CommitSHA != sha || s.Branch != tt.branch || s.UpdatedBy != tt.updatedBy || s.Labels["ci"] != tt.ci ||
				!reflect.DeepEqual(s.ChangedFiles, []string{"/etc/rsyslog.conf", "/etc/rsyslog.d/50-default.conf"}) {
				t.Fatalf("stored %+v", s)
			}
		})
	}
	t.Run("flags win over the CI", func(t *testing.T) {
		env := []string{"GITOPS_STATUS_URL=" + p.URL, "GITHUB_ACTIONS=true", "GITHUB_SHA=" + sha, "GITHUB_REF_NAME=main", "GITHUB_ACTOR=octocat"}
		if _, errOut, code := runBin(t, env, "", "report", "pipeline", "--server-group", "g", "--host", "h",
			"--status", "synced", "--commit-sha", "abc1234", "--branch", "", "--updated-by", "me"); code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		if s, _ := getRecord(t, p.URL, "g", "h"); s.CommitSHA != "abc1234" || s.Branch != "" || s.UpdatedBy != "me" {
			t.Fatalf("stored %+v", s)
		}
	})
}

// TestReport_serverComesUpLater: the server is down when the report starts
// and listens a few seconds later; report keeps trying and exits 0.
func TestReport_serverComesUpLater(t *testing.T) {
	port := freePort(t)
	url := "http://127.0.0.1:" + strconv.Itoa(port)
	cmd := exec.Command(binPath, "report", "cron", "--server-group", "rsyslog-prod", "--host", "late",
		"--status", "out_of_sync", "--timeout", "2m", "/etc/rsyslog.conf")
	cmd.Env = cleanEnv("GITOPS_STATUS_URL=" + url)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() { cmd.Process.Kill() })

	time.Sleep(3 * time.Second)
	select {
	case err := <-done:
		t.Fatalf("report gave up while the server was down: %v\n%s", err, errb.String())
	default:
	}
	p := launch(t, nil, "--addr", "127.0.0.1:"+strconv.Itoa(port), "--data-dir", t.TempDir())
	p.waitListening()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("report: %v\nstdout: %s\nstderr: %s", err, out.String(), errb.String())
		}
	case <-time.After(2 * time.Minute):
		t.Fatal("report did not finish after the server came up")
	}
	if s, code := getRecord(t, url, "rsyslog-prod", "late"); code != 200 || s.Status != gitops.StatusOutOfSync {
		t.Fatalf("stored: %d %+v", code, s)
	}
	if !strings.Contains(out.String(), "stored rsyslog-prod/late: out_of_sync") {
		t.Fatalf("stdout %q", out.String())
	}
}

// TestReport_refused: a report the server refuses exits 1 with the server's
// sentence on stderr, at once, and stores nothing; so does one the CLI can
// tell is wrong before sending it.
func TestReport_refused(t *testing.T) {
	p := startServe(t, nil, "--data-dir", t.TempDir())
	env := []string{"GITOPS_STATUS_URL=" + p.URL}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"by the server's clock", []string{"--reported-at", "2099-01-01T00:00:00Z"},
			`refused by the server (400 Bad Request): reported_at 2099-01-01T00:00:00Z is `},
		{"before sending", []string{"--stale-after", "soon"},
			`not sent: stale_after "soon" is not a duration; use a Go duration such as "30m"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"report", "cron", "--server-group", "g", "--host", "refused", "--status", "synced", "--timeout", "5m"}, tt.args...)
			_, errOut, code := runBin(t, env, "", args...)
			if code != 1 || !strings.Contains(errOut, tt.want) {
				t.Fatalf("exit %d, stderr %q; want 1 and %q", code, errOut, tt.want)
			}
			if _, code := getRecord(t, p.URL, "g", "refused"); code != 404 {
				t.Fatalf("a refused report stored something: GET answered %d", code)
			}
		})
	}
	// A command line that is wrong is exit 1 too, never 2 (which a
	// pipeline may tolerate as "status service down").
	if _, errOut, code := runBin(t, env, "", "report", "cron", "--nope"); code != 1 {
		t.Fatalf("unknown flag: exit %d, %s", code, errOut)
	}
}

func TestReport_nothingListening(t *testing.T) {
	url := "http://127.0.0.1:" + strconv.Itoa(freePort(t))
	_, errOut, code := runBin(t, nil, "", "report", "pipeline", "--url", url, "--timeout", "2s",
		"--server-group", "g", "--host", "h", "--status", "synced")
	if code != 2 || !strings.Contains(errOut, "could not be reached after") || !strings.Contains(errOut, "connection refused") {
		t.Fatalf("exit %d, stderr %q; want 2 and why", code, errOut)
	}
}

// TestReport_cronFromAnsible reports a captured ansible-playbook --check
// --diff run (see internal/ansiblejson/testdata), from a file and from
// standard input.
func TestReport_cronFromAnsible(t *testing.T) {
	p := startServe(t, nil, "--data-dir", t.TempDir())
	fixture := "../../internal/ansiblejson/testdata/drift.json"
	out, errOut, code := runCLI("report", "cron", "--url", p.URL, "--from-ansible", fixture, "--server-group", "web", "--environment", "prod")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	if !strings.Contains(errOut, "web/web-03 failed in ansible: Web-03 breaks: non-zero return code") {
		t.Fatalf("stderr %q does not say why web-03 failed", errOut)
	}
	want := map[string]struct {
		status gitops.Status
		files  []string
	}{
		"web-01": {gitops.StatusOutOfSync, []string{"/srv/web-01/etc/main.conf", "/srv/web-01/etc/app.d/20-b.conf"}},
		"web-02": {gitops.StatusOutOfSync, []string{"/srv/web-02/etc/main.conf", "task: Install the package"}},
		"web-03": {gitops.StatusFailed, []string{"/srv/web-03/etc/main.conf"}},
		"web-04": {gitops.StatusFailed, []string{}},
	}
	for host, w := range want {
		s, _ := getRecord(t, p.URL, "web", host)
		if s.Status != w.status || !reflect.DeepEqual(s.ChangedFiles, w.files) || s.Environment != "prod" ||
			!s.CronReportedAt.Equal(time.Date(2026, 12, 6, 14, 18, 9, 126114000, time.UTC)) {
			t.Errorf("%s stored %+v; want %s %q, reported at the run's start", host, s, w.status, w.files)
		}
	}

	clean, err := os.ReadFile("../../internal/ansiblejson/testdata/clean.json")
	if err != nil {
		t.Fatal(err)
	}
	out, errOut, code = runBin(t, []string{"GITOPS_STATUS_URL=" + p.URL}, string(clean), "report", "cron", "--from-ansible", "-", "--server-group", "web")
	if code != 0 || strings.Count(out, ": synced") != 2 {
		t.Fatalf("clean run from stdin: exit %d\n%s\n%s", code, out, errOut)
	}
	if s, _ := getRecord(t, p.URL, "web", "web-01"); s.Status != gitops.StatusSynced || len(s.ChangedFiles) != 0 {
		t.Fatalf("after the clean run web-01 is %+v", s)
	}
	if _, errOut, code := runCLI("report", "cron", "--url", p.URL, "--from-ansible", fixture); code != 1 || !strings.Contains(errOut, "--server-group") {
		t.Fatalf("without --server-group: exit %d, %s", code, errOut)
	}
}

// tlsAPI serves the real API over HTTPS with a certificate of its own CA,
// and returns its URL, the CA's PEM file and what Authorization headers it
// saw.
func tlsAPI(t *testing.T) (string, string, *atomic.Value) {
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "status.db"), gitops.StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	api := httpapi.New(httpapi.Config{Store: st}).Handler()
	var auth atomic.Value
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth.Store(r.Header.Get("Authorization"))
		api.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	return srv.URL, ca, &auth
}

func TestReport_caFile(t *testing.T) {
	url, ca, _ := tlsAPI(t)
	args := []string{"report", "cron", "--url", url, "--server-group", "g", "--host", "h", "--status", "synced"}
	if out, errOut, code := runCLI(append(args, "--ca-file", ca)...); code != 0 {
		t.Fatalf("with --ca-file: exit %d\n%s%s", code, out, errOut)
	}
	// Without it the certificate is not trusted: exit 1 at once, not a
	// minute of retries ending in 2.
	if _, errOut, code := runCLI(append(args, "--timeout", "10m")...); code != 1 || !strings.Contains(errOut, "certificate") {
		t.Fatalf("without --ca-file: exit %d, %s", code, errOut)
	}
}

func TestReport_tokenSources(t *testing.T) {
	url, ca, auth := tlsAPI(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "token")
	envFile := filepath.Join(dir, "env-token")
	os.WriteFile(file, []byte("from-file\n"), 0o600)
	os.WriteFile(envFile, []byte("from-env-file\n"), 0o600)
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"none", nil, nil, ""},
		{"--token", nil, []string{"--token", "flag"}, "Bearer flag"},
		{"--token-file", nil, []string{"--token-file", file}, "Bearer from-file"},
		{"GITOPS_STATUS_TOKEN", map[string]string{"GITOPS_STATUS_TOKEN": "env"}, nil, "Bearer env"},
		{"GITOPS_STATUS_TOKEN_FILE", map[string]string{"GITOPS_STATUS_TOKEN_FILE": envFile}, nil, "Bearer from-env-file"},
		{"the command line wins", map[string]string{"GITOPS_STATUS_TOKEN": "env"}, []string{"--token-file", file}, "Bearer from-file"},
		{"the command line wins over a file too", map[string]string{"GITOPS_STATUS_TOKEN_FILE": envFile}, []string{"--token", "flag"}, "Bearer flag"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			auth.Store("")
			args := append([]string{"report", "cron", "--url", url, "--ca-file", ca, "--server-group", "g", "--host", "h", "--status", "synced"}, tt.args...)
			if _, errOut, code := runCLI(args...); code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			if got := auth.Load(); got != tt.want {
				t.Fatalf("Authorization %q, want %q", got, tt.want)
			}
		})
	}
	if _, errOut, code := runCLI("report", "cron", "--url", url, "--token", "a", "--token-file", file); code != 1 || !strings.Contains(errOut, "not both") {
		t.Fatalf("--token with --token-file: exit %d, %s", code, errOut)
	}
}

func TestReport_readsChangedFilesFromAFileAndArguments(t *testing.T) {
	p := startServe(t, nil, "--data-dir", t.TempDir())
	list := filepath.Join(t.TempDir(), "files")
	os.WriteFile(list, []byte("/etc/b\r\n  /etc/c  \n\n"), 0o644)
	// Flags may follow the file arguments.
	out, errOut, code := runCLI("report", "cron", "--url", p.URL, "--server-group", "g", "--host", "h", "/etc/a",
		"--status", "out_of_sync", "--changed-files", list, "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var s gitops.Server
	if err := s.UnmarshalJSON([]byte(out)); err != nil || !reflect.DeepEqual(s.ChangedFiles, []string{"/etc/a", "/etc/b", "/etc/c"}) {
		t.Fatalf("-o json printed %s (%v)", out, err)
	}
}

func TestFlagsFirst(t *testing.T) {
	cfg := &reportConfig{kind: "cron"}
	fs := newFlagSet("report cron", "")
	cfg.register(fs)
	fs.Bool("yes", false, "a bool flag")
	tests := []struct {
		in, want []string
	}{
		{[]string{"a", "--host", "h", "b"}, []string{"--host", "h", "--", "a", "b"}},
		{[]string{"--host=h", "a", "-o", "json"}, []string{"--host=h", "-o", "json", "--", "a"}},
		{[]string{"--yes", "a"}, []string{"--yes", "--", "a"}},
		{[]string{"a", "--", "--host", "-"}, []string{"--", "a", "--host", "-"}},
		{[]string{"-", "--nope", "x"}, []string{"--nope", "--", "-", "x"}},
	}
	for _, tt := range tests {
		if got := flagsFirst(fs, tt.in); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("flagsFirst(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestReport_usage(t *testing.T) {
	if out, _, code := runCLI("report", "--help"); code != 0 || !strings.Contains(out, "Exit status: 0 stored") {
		t.Fatalf("report --help: exit %d, %q", code, out)
	}
	if _, errOut, code := runCLI("report", "deploy"); code != 1 || !strings.Contains(errOut, "report pipeline|cron") {
		t.Fatalf("report deploy: exit %d, %q", code, errOut)
	}
}

// TestReport_tokens runs report against a server with a tokens file: a
// wrong token is refused at once (exit 1, the server's 401 sentence, nothing
// stored, no retries), a token without the group is refused with 403, and
// the right one stores the report under the token's name when the CI names
// no user.
func TestReport_tokens(t *testing.T) {
	file := filepath.Join(t.TempDir(), "tokens.yaml")
	// No read token: reads stay open, so the test reads back without one.
	var tokens []credential
	for _, c := range matrixTokens {
		if c.name != "grafana" {
			tokens = append(tokens, c)
		}
	}
	writeTokensFile(t, file, tokens)
	p := startServe(t, nil, "--data-dir", t.TempDir(), "--tokens-file", file)
	base := []string{"report", "pipeline", "--server-group", "rsyslog-prod", "--status", "synced", "--timeout", "2m"}
	tests := []struct {
		name, token, host string
		wantCode          int
		wantErr           string
	}{
		{"unknown token", "not-a-token-of-this-server", "wrong", 1, "refused by the server (401 Unauthorized)"},
		{"token of another group", "rci-5566778899aabbcc", "other", 1, "refused by the server (403 Forbidden)"},
		{"pipeline token", "wp-9a8b7c6d5e4f3a2b", "right", 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append(base, "--host", tt.host)
			group := "rsyslog-prod"
			if tt.host == "other" {
				args = append(args, "--server-group", "nginx-prod")
				group = "nginx-prod"
			}
			start := time.Now()
			_, errOut, code := runBin(t, []string{"GITOPS_STATUS_URL=" + p.URL, "GITOPS_STATUS_TOKEN=" + tt.token}, "", args...)
			if code != tt.wantCode || !strings.Contains(errOut, tt.wantErr) {
				t.Fatalf("exit %d, stderr %q; want %d and %q", code, errOut, tt.wantCode, tt.wantErr)
			}
			if tt.wantCode != 0 && time.Since(start) > 30*time.Second {
				t.Fatalf("a refused report was retried for %v", time.Since(start))
			}
			s, getCode := getRecord(t, p.URL, group, tt.host)
			if tt.wantCode != 0 {
				if getCode != 404 {
					t.Fatalf("a refused report stored something: GET answered %d", getCode)
				}
				return
			}
			if getCode != 200 || s.UpdatedBy != "woodpecker" {
				t.Fatalf("stored %d, updated_by %q; want 200 and the token's name", getCode, s.UpdatedBy)
			}
		})
	}
}

// TestReport_timeoutCountsFromInput: --timeout bounds the sending, not a
// slow producer on standard input (an ansible-playbook run piped into
// report), so input arriving after more than --timeout is still sent.
func TestReport_timeoutCountsFromInput(t *testing.T) {
	p := startServe(t, nil, "--data-dir", t.TempDir())
	clean, err := os.ReadFile("../../internal/ansiblejson/testdata/clean.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"report", "cron", "--from-ansible", "-", "--server-group", "slow-ansible", "--timeout", "1s"},
		{"report", "cron", "--server-group", "slow-pipe", "--host", "h", "--status", "out_of_sync", "--timeout", "1s", "-"},
	} {
		cmd := exec.Command(binPath, args...)
		cmd.Env = cleanEnv("GITOPS_STATUS_URL=" + p.URL)
		in, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		var errb bytes.Buffer
		cmd.Stderr = &errb
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Second) // longer than --timeout
		if args[3] == "-" {
			in.Write(clean)
		} else {
			io.WriteString(in, "/etc/a.conf\n")
		}
		in.Close()
		if err := cmd.Wait(); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, errb.String())
		}
	}
	if s, code := getRecord(t, p.URL, "slow-ansible", "web-01"); code != 200 || s.Status != gitops.StatusSynced {
		t.Fatalf("the slow ansible run was not reported: %d %+v", code, s)
	}
	if s, code := getRecord(t, p.URL, "slow-pipe", "h"); code != 200 || len(s.ChangedFiles) != 1 {
		t.Fatalf("the slow pipe was not reported: %d %+v", code, s)
	}
}
