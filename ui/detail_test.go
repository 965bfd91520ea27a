package ui

import (
	"reflect"
	"testing"
	"time"

	gitops "github.com/gitops-status/gitops-status"
)

func TestNewEvent(t *testing.T) {
	at := gitops.Time{Time: t0.Add(-90 * time.Minute)}
	tests := []struct {
		name        string
		in          gitops.Event
		created     bool
		statusMoved bool
		changes     []string
	}{
		{"a new server", gitops.Event{Time: at, Status: gitops.StatusSynced, Changes: []gitops.Change{gitops.ChangeCreated}}, true, false, []string{"created"}},
		{"drift", gitops.Event{Time: at, Status: gitops.StatusOutOfSync, PreviousStatus: gitops.StatusSynced,
			Changes: []gitops.Change{gitops.ChangeStatus, gitops.ChangeChangedFiles}}, false, true, []string{"status", "changed_files"}},
		{"a new commit, same status", gitops.Event{Time: at, Status: gitops.StatusFailed, PreviousStatus: gitops.StatusFailed,
			Changes: []gitops.Change{gitops.ChangeCommitSHA}}, false, false, []string{"commit_sha"}},
		{"no changes listed", gitops.Event{Time: at, Status: gitops.StatusFailed, PreviousStatus: gitops.StatusFailed}, false, false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEvent(&tt.in, t0)
			if e.CreatedAServer != tt.created || e.StatusChanged != tt.statusMoved || !reflect.DeepEqual(e.Changes, tt.changes) {
				t.Fatalf("created %v, status changed %v, changes %q; want %v, %v, %q",
					e.CreatedAServer, e.StatusChanged, e.Changes, tt.created, tt.statusMoved, tt.changes)
			}
			if e.When.Text != "90 min ago" || e.PreviousWord == "" {
				t.Fatalf("when %q, previous %q", e.When.Text, e.PreviousWord)
			}
		})
	}
}

func TestBuildDetail(t *testing.T) {
	s := smallFleet()[1]
	s.Labels = map[string]string{"owner": "ops", "dc": "fra1"}
	s.ChangedFiles = []string{"/etc/a", "/etc/b"}
	s.StaleAfter = "0s"
	events := make([]gitops.Event, 3)
	d := buildDetail(&s, events, 3, t0)
	if want := []label{{"dc", "fra1"}, {"owner", "ops"}}; !reflect.DeepEqual(d.Labels, want) {
		t.Errorf("labels %v, want them by key, %v", d.Labels, want)
	}
	if d.MoreHref != "/ui/a/h2?limit=30" {
		t.Errorf("a full history links to %q for more", d.MoreHref)
	}
	if d := buildDetail(&s, events[:2], 3, t0); d.MoreHref != "" {
		t.Errorf("a history shorter than the limit links to %q for more", d.MoreHref)
	}
	byName := map[string]field{}
	for _, f := range d.Fields {
		byName[f.Name] = f
	}
	// Every field of the record is there (stale and the counts computed).
	for _, name := range []string{"server_group", "host", "status", "status_since", "stale", "stale_after",
		"validation_status", "validation_message", "commit_sha", "branch", "updated_by", "project_name",
		"repo_name", "server_type", "environment", "pipeline_status", "drift_status", "last_source",
		"last_pipeline_run", "last_cron_check", "timestamp", "pipeline_reported_at", "cron_reported_at",
		"changed_files_count", "desired_commit_sha", "behind", "behind_since"} {
		if _, ok := byName[name]; !ok {
			t.Errorf("the server view has no %s", name)
		}
	}
	if len(byName) != 27 {
		t.Errorf("the server view shows %d fields, want 27 (plus labels and changed files)", len(byName))
	}
	if got := byName["stale_after"].Value; got != "0s (never stale)" {
		t.Errorf("stale_after shows %q", got)
	}
	if f := byName["last_cron_check"]; !f.Empty || f.Time.Text != "never" {
		t.Errorf("an unset time shows %+v", f)
	}
	if got := byName["changed_files_count"].Value; got != "2" {
		t.Errorf("changed_files_count shows %q", got)
	}
}
