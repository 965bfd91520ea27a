package examples_test

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	gitops "github.com/gitops-status/gitops-status"
)

// gitRepo makes a git repository in a new directory with files, committed,
// and returns its directory.
func gitRepo(t *testing.T, env []string, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	writeFiles(t, dir, files)
	for _, args := range [][]string{
		{"init", "-q", "-b", "main"},
		{"add", "-A"},
		{"-c", "user.name=ops", "-c", "user.email=ops@example.com", "commit", "-q", "-m", "configuration"},
	} {
		if out, code := run(t, dir, env, "", "git", args...); code != 0 {
			t.Fatalf("git %v: %s", args, out)
		}
	}
	return dir
}

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestCronDriftScript runs examples/cron/drift-check.sh with dash against a
// real git checkout and a deployed copy of it.
func TestCronDriftScript(t *testing.T) {
	needTools(t, "dash", "git")
	srv := startServer(t)
	script, err := filepath.Abs("cron/drift-check.sh")
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"rsyslog.conf":                 "$IncludeConfig /etc/rsyslog.d/*.conf\n",
		"rsyslog.d/50-default.conf":    "*.* -/var/log/syslog\n",
		"rsyslog.d/60 with space.conf": "*.* @@logs.example.com:514\n",
	}
	env := exampleEnv(t)
	checkout := gitRepo(t, env, files)
	deployed := t.TempDir()
	writeFiles(t, deployed, files)
	env = append(env, "GITOPS_STATUS_URL="+srv.URL, "DEPLOYED="+deployed, "CHECKOUT="+checkout,
		"SERVER_GROUP=rsyslog-prod", "HOST=rsyslog-01")

	// A deployment reported first: the drift check must keep its fields.
	if out, code := run(t, "/", env, "", filepath.Join(binDir, "gitops-status"), "report", "pipeline", "--server-group", "rsyslog-prod", "--host", "rsyslog-01",
		"--status", "synced", "--commit-sha", "abc1234", "--validation-status", "passed"); code != 0 {
		t.Fatalf("pipeline report: %s", out)
	}

	out, code := run(t, "/", env, "", "dash", script)
	if code != 0 {
		t.Fatalf("drift check of an identical tree: exit %d\n%s", code, out)
	}
	if s := srv.mustRecord(t, "rsyslog-prod", "rsyslog-01"); s.Status != gitops.StatusSynced || len(s.ChangedFiles) != 0 || s.LastCronCheck.IsZero() {
		t.Fatalf("identical trees: %+v", s)
	}

	// Drift: a file edited, one removed, one added by hand.
	writeFiles(t, deployed, map[string]string{"rsyslog.d/50-default.conf": "*.* -/var/log/everything\n", "rsyslog.d/99-local.conf": "# mine\n"})
	os.Remove(filepath.Join(deployed, "rsyslog.d/60 with space.conf"))
	out, code = run(t, "/", env, "", "dash", script)
	if code != 0 {
		t.Fatalf("drift check: exit %d\n%s", code, out)
	}
	if !strings.Contains(out, "stored rsyslog-prod/rsyslog-01: out_of_sync") {
		t.Fatalf("drift check printed %q", out)
	}
	s := srv.mustRecord(t, "rsyslog-prod", "rsyslog-01")
	want := []string{deployed + "/rsyslog.d/50-default.conf", deployed + "/rsyslog.d/60 with space.conf", deployed + "/rsyslog.d/99-local.conf"}
	if s.Status != gitops.StatusOutOfSync || !reflect.DeepEqual(s.ChangedFiles, want) ||
		s.CommitSHA != "abc1234" || s.ValidationStatus != gitops.ValidationPassed || s.PipelineStatus != gitops.StatusSynced {
		t.Fatalf("after drift: %+v\nwant changed files %q and the pipeline's fields kept", s, want)
	}

	// A checkout that is not there is an error, never "synced".
	bad := append(env[:len(env):len(env)], "CHECKOUT="+filepath.Join(checkout, "nope"))
	if out, code := run(t, "/", bad, "", "dash", script); code == 0 || !strings.Contains(out, "is not a directory") {
		t.Fatalf("missing checkout: exit %d, %s", code, out)
	}
	// The server unreachable: the script exits 2, as report does.
	down := append(env[:len(env):len(env)], "GITOPS_STATUS_URL=http://127.0.0.1:1", "GITOPS_STATUS_TIMEOUT=1s")
	if out, code := run(t, "/", down, "", "dash", script); code != 2 {
		t.Fatalf("server down: exit %d, %s", code, out)
	}
}

// TestLegacyV1Curl runs the v1 rsyslog curl exactly as its users do, with
// only the server's address changed.
func TestLegacyV1Curl(t *testing.T) {
	needTools(t, "curl")
	srv := startServer(t)
	b, err := os.ReadFile("legacy/rsyslog-v1.sh")
	if err != nil {
		t.Fatal(err)
	}
	script := strings.ReplaceAll(string(b), "http://localhost:5000", srv.URL)
	out, code := run(t, "/", exampleEnv(t), "", "sh", "-c", script)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, out)
	}
	if strings.Count(out, `"sync_status":"SYNCED"`) != 2 || !strings.Contains(out, `"server":"rsyslog-lab"`) {
		t.Fatalf("v1 answers: %s", out)
	}
	s := srv.mustRecord(t, "rsyslog", "rsyslog-lab")
	if s.Status != gitops.StatusSynced || s.UpdatedBy != "legacy-api" || s.LastSource != gitops.SourceLegacy || s.RepoName != "rsyslog" ||
		gitops.FormatTime(s.LastPipelineRun) != "2026-04-26T00:00:00Z" {
		t.Fatalf("stored %+v", s)
	}
}
