package examples_test

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	gitops "github.com/gitops-status/gitops-status"
)

// TestAnsible runs examples/ansible with the real ansible-playbook: the
// deployment (validated by the real rsyslogd) reports through
// ansible.builtin.uri, the drift check through --check --diff and report
// cron --from-ansible, and a broken template is reported as a failed
// validation.
func TestAnsible(t *testing.T) {
	needTools(t, "ansible-playbook", "rsyslogd")
	srv := startServer(t)
	dir := copyDir(t, "ansible")
	root := t.TempDir()
	env := exampleEnv(t, "GITOPS_STATUS_URL="+srv.URL,
		"CI_COMMIT_SHA=eba09b46064473a1d345da7abf28b477468e8dbd", "CI_COMMIT_BRANCH=master", "CI_COMMIT_AUTHOR=john-doe")
	rootVar := "root=" + root + "/{{ inventory_hostname }}"
	deployed := func(host, path string) string { return filepath.Join(root, host, path) }
	hosts := []string{"rsyslog-01", "rsyslog-02"}

	out, code := run(t, dir, env, "", "ansible-playbook", "-i", "inventory.ini", "deploy.yml", "-e", rootVar)
	if code != 0 {
		t.Fatalf("deploy: exit %d\n%s", code, out)
	}
	for _, h := range hosts {
		s := srv.mustRecord(t, "rsyslog-prod", h)
		want := []string{deployed(h, "etc/rsyslog.conf"), deployed(h, "etc/rsyslog.d/50-default.conf"), deployed(h, "etc/rsyslog.d/60-forward.conf")}
		if s.Status != gitops.StatusSynced || s.ValidationStatus != gitops.ValidationPassed || s.LastSource != gitops.SourcePipeline ||
			s.CommitSHA != "eba09b46064473a1d345da7abf28b477468e8dbd" || s.Branch != "master" || s.UpdatedBy != "john-doe" ||
			s.ServerType != "rsyslog" || s.Environment != "prod" || !reflect.DeepEqual(s.ChangedFiles, want) {
			t.Fatalf("after the first deployment %s is %+v\nwant changed files %q", h, s, want)
		}
		if _, err := os.Stat(deployed(h, "etc/rsyslog.d/60-forward.conf")); err != nil {
			t.Fatalf("the playbook did not deploy: %v", err)
		}
	}

	// Deploying again changes nothing, and the pipeline report says so.
	if out, code := run(t, dir, env, "", "ansible-playbook", "-i", "inventory.ini", "deploy.yml", "-e", rootVar); code != 0 {
		t.Fatalf("second deploy: exit %d\n%s", code, out)
	}
	if s := srv.mustRecord(t, "rsyslog-prod", "rsyslog-01"); s.Status != gitops.StatusSynced || len(s.ChangedFiles) != 0 {
		t.Fatalf("after deploying again: %+v", s)
	}

	// Someone edits a file on rsyslog-01: the drift check reports it, and
	// keeps what the pipeline reported.
	tampered := deployed("rsyslog-01", "etc/rsyslog.d/60-forward.conf")
	f, err := os.OpenFile(tampered, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("*.* /tmp/debug.log\n")
	f.Close()
	out, code = run(t, dir, env, "", "sh", "drift-check.sh", "-e", rootVar)
	if code != 0 {
		t.Fatalf("drift check: exit %d\n%s", code, out)
	}
	s := srv.mustRecord(t, "rsyslog-prod", "rsyslog-01")
	if s.Status != gitops.StatusOutOfSync || s.DriftStatus != gitops.StatusOutOfSync || s.PipelineStatus != gitops.StatusSynced ||
		s.LastSource != gitops.SourceCron || s.CommitSHA != "eba09b46064473a1d345da7abf28b477468e8dbd" || s.CronReportedAt.IsZero() ||
		!reflect.DeepEqual(s.ChangedFiles, []string{tampered}) {
		t.Fatalf("after the drift check rsyslog-01 is %+v", s)
	}
	if s := srv.mustRecord(t, "rsyslog-prod", "rsyslog-02"); s.Status != gitops.StatusSynced || s.DriftStatus != gitops.StatusSynced {
		t.Fatalf("rsyslog-02 did not drift but is %+v", s)
	}
	if b, _ := os.ReadFile(tampered); !strings.Contains(string(b), "/tmp/debug.log") {
		t.Fatal("the drift check changed the file it checked")
	}

	// A template rsyslogd refuses: the run fails, and reports why.
	tmpl := filepath.Join(dir, "templates", "60-forward.conf.j2")
	b, _ := os.ReadFile(tmpl)
	os.WriteFile(tmpl, append(b, "if $msg contains 'x' then {\n"...), 0o644)
	out, code = run(t, dir, env, "", "ansible-playbook", "-i", "inventory.ini", "deploy.yml", "-e", rootVar)
	if code == 0 {
		t.Fatalf("deploying a broken configuration succeeded:\n%s", out)
	}
	for _, h := range hosts {
		s := srv.mustRecord(t, "rsyslog-prod", h)
		if s.Status != gitops.StatusFailed || s.ValidationStatus != gitops.ValidationFailed ||
			!strings.HasPrefix(s.ValidationMessage, "Validate the configuration: rsyslogd: ") {
			t.Fatalf("after a failed validation %s is %+v", h, s)
		}
	}
}
