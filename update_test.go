package gitops_test

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	gitops "github.com/gitops-status/gitops-status"
)

// existing is a server written by a pipeline at t0-2h and a cron at t0-1h,
// with every field set, so tests can see which ones an update keeps.
func existing() gitops.Server {
	return gitops.Server{
		ServerGroup: "rsyslog-prod", Host: "rsyslog-01",
		ProjectName: "gitops-for-servers", RepoName: "rsyslog", ServerType: "rsyslog", Environment: "prod",
		Status: gitops.StatusOutOfSync, ChangedFiles: []string{"/etc/rsyslog.conf"},
		ValidationStatus: gitops.ValidationPassed, ValidationMessage: "syntax ok",
		CommitSHA: "abc1234", Branch: "master", UpdatedBy: "woodpecker",
		LastPipelineRun:    at(-2 * time.Hour),
		LastCronCheck:      at(-time.Hour),
		Timestamp:          at(-time.Hour),
		StatusSince:        at(-time.Hour),
		LastSource:         gitops.SourceCron,
		Labels:             map[string]string{"datacenter": "dc1"},
		PipelineStatus:     gitops.StatusSynced,
		DriftStatus:        gitops.StatusOutOfSync,
		StaleAfter:         "30m",
		PipelineReportedAt: at(-2*time.Hour - time.Minute),
		CronReportedAt:     at(-time.Hour - time.Minute),
	}
}

// diffServers names every field that differs, so a failure says which rule
// broke.
func diffServers(got, want gitops.Server) string {
	var b strings.Builder
	gv, wv := reflect.ValueOf(got), reflect.ValueOf(want)
	for i := 0; i < gv.NumField(); i++ {
		g, w := gv.Field(i).Interface(), wv.Field(i).Interface()
		if !reflect.DeepEqual(g, w) {
			fmt.Fprintf(&b, "\n  %s = %#v, want %#v", gv.Type().Field(i).Name, g, w)
		}
	}
	return b.String()
}

func assertServer(tb testing.TB, got, want gitops.Server) {
	tb.Helper()
	if d := diffServers(got, want); d != "" {
		tb.Fatalf("server differs:%s", d)
	}
}

func TestPipelineApply_create(t *testing.T) {
	u := &gitops.PipelineUpdate{
		Source: gitops.SourcePipeline, ServerGroup: "nginx-prod", Host: "nginx-01",
		ProjectName: "p", RepoName: "nginx", ServerType: "nginx", Environment: "prod",
		Status: gitops.StatusSynced, ChangedFiles: []string{"/etc/nginx/nginx.conf"},
		ValidationStatus: gitops.ValidationPassed, ValidationMessage: "nginx -t ok",
		CommitSHA: "def5678", Branch: "main", UpdatedBy: "gitlab-ci",
		Labels: map[string]string{"owner": "web"}, StaleAfter: "1h",
		ReportedAt: at(-time.Minute),
	}
	out := u.Apply(nil, t0)
	if !out.Applied || !out.Created || len(out.Warnings) != 0 {
		t.Fatalf("Applied %v Created %v Warnings %q, want true true none", out.Applied, out.Created, out.Warnings)
	}
	assertServer(t, out.Server, gitops.Server{
		ServerGroup: "nginx-prod", Host: "nginx-01",
		ProjectName: "p", RepoName: "nginx", ServerType: "nginx", Environment: "prod",
		Status: gitops.StatusSynced, ChangedFiles: []string{"/etc/nginx/nginx.conf"},
		ValidationStatus: gitops.ValidationPassed, ValidationMessage: "nginx -t ok",
		CommitSHA: "def5678", Branch: "main", UpdatedBy: "gitlab-ci",
		LastPipelineRun: t0, Timestamp: t0, StatusSince: t0,
		LastSource: gitops.SourcePipeline, Labels: map[string]string{"owner": "web"},
		PipelineStatus: gitops.StatusSynced, StaleAfter: "1h",
		PipelineReportedAt: at(-time.Minute),
	})
}

func TestPipelineApply_defaultsWhenOmitted(t *testing.T) {
	u := &gitops.PipelineUpdate{Source: gitops.SourcePipeline, ServerGroup: "g", Host: "h", Status: gitops.StatusFailed}
	out := u.Apply(nil, t0)
	s := out.Server
	if s.ChangedFiles == nil || len(s.ChangedFiles) != 0 {
		t.Fatalf("ChangedFiles = %#v, want []", s.ChangedFiles)
	}
	if s.Labels == nil || len(s.Labels) != 0 {
		t.Fatalf("Labels = %#v, want {}", s.Labels)
	}
	if got, want := s.ValidationStatus, gitops.ValidationUnknown; got != want {
		t.Fatalf("ValidationStatus = %q, want %q", got, want)
	}
}

func TestPipelineApply_existing(t *testing.T) {
	cur := existing()
	u := &gitops.PipelineUpdate{
		Source: gitops.SourcePipeline, ServerGroup: cur.ServerGroup, Host: cur.Host,
		Status: gitops.StatusSynced, ValidationStatus: gitops.ValidationSkipped, CommitSHA: "new5678",
	}
	out := u.Apply(&cur, t0)
	if !out.Applied || out.Created {
		t.Fatalf("Applied %v Created %v, want true false", out.Applied, out.Created)
	}
	// What the pipeline omitted is reset; the cron-owned fields are kept.
	assertServer(t, out.Server, gitops.Server{
		ServerGroup: "rsyslog-prod", Host: "rsyslog-01",
		Status: gitops.StatusSynced, ChangedFiles: []string{},
		ValidationStatus: gitops.ValidationSkipped, CommitSHA: "new5678",
		LastPipelineRun: t0,
		LastCronCheck:   cur.LastCronCheck, // kept
		Timestamp:       t0,
		StatusSince:     t0, // out_of_sync -> synced
		LastSource:      gitops.SourcePipeline,
		Labels:          map[string]string{},
		PipelineStatus:  gitops.StatusSynced,
		DriftStatus:     gitops.StatusOutOfSync, // kept
		CronReportedAt:  cur.CronReportedAt,     // kept
	})
	if !reflect.DeepEqual(cur, existing()) {
		t.Fatalf("Apply modified cur:%s", diffServers(cur, existing()))
	}
}

func TestPipelineApply_sourceDefaultsToPipeline(t *testing.T) {
	// Code that builds a PipelineUpdate by hand (not through the parser)
	// still writes a pipeline update.
	u := &gitops.PipelineUpdate{ServerGroup: "g", Host: "h", Status: gitops.StatusSynced, UpdatedBy: "me"}
	out := u.Apply(nil, t0)
	if got, want := out.Server.LastSource, gitops.SourcePipeline; got != want {
		t.Fatalf("LastSource = %q, want %q", got, want)
	}
	if got, want := out.Event.Source, gitops.SourcePipeline; got != want {
		t.Fatalf("event source = %q, want %q", got, want)
	}
}

func TestLegacyApply(t *testing.T) {
	lastCheck := at(-10 * time.Minute)
	tests := []struct {
		name            string
		cur             *gitops.Server
		lastCheck       time.Time
		wantPipelineRun time.Time
	}{
		{"create with last_check", nil, lastCheck, lastCheck},
		{"create without last_check", nil, time.Time{}, t0},
		{"existing with last_check", ptr(existing()), lastCheck, lastCheck},
		{"existing without last_check", ptr(existing()), time.Time{}, t0},
		{"imported record written by legacy", ptr(func() gitops.Server { s := existing(); s.Imported = true; return s }()), lastCheck, lastCheck},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := &gitops.PipelineUpdate{
				Source: gitops.SourceLegacy, ServerGroup: "rsyslog-prod", Host: "rsyslog-01",
				RepoName: "rsyslog", ServerType: "rsyslog", Status: gitops.StatusFailed,
				ChangedFiles: []string{"/a"}, ValidationStatus: gitops.ValidationUnknown,
				UpdatedBy: "legacy-api", Labels: map[string]string{}, LastCheck: tt.lastCheck,
			}
			out := u.Apply(tt.cur, t0)
			s := out.Server
			if !out.Applied {
				t.Fatalf("not applied: %q", out.Warnings)
			}
			if got, want := s.LastSource, gitops.SourceLegacy; got != want {
				t.Errorf("LastSource = %q, want %q", got, want)
			}
			if got, want := s.LastPipelineRun, tt.wantPipelineRun; !got.Equal(want) {
				t.Errorf("LastPipelineRun = %v, want %v", got, want)
			}
			if got, want := s.LegacyWrittenAt, t0; !got.Equal(want) {
				t.Errorf("LegacyWrittenAt = %v, want %v", got, want)
			}
			if got, want := s.Timestamp, t0; !got.Equal(want) {
				t.Errorf("Timestamp = %v, want %v (server clock)", got, want)
			}
			if s.Imported {
				t.Errorf("Imported = true after a legacy write")
			}
			if got, want := s.PipelineStatus, gitops.StatusFailed; got != want {
				t.Errorf("PipelineStatus = %q, want %q", got, want)
			}
			if got, want := s.UpdatedBy, "legacy-api"; got != want {
				t.Errorf("UpdatedBy = %q, want %q", got, want)
			}
			if tt.cur != nil {
				if got, want := s.LastCronCheck, tt.cur.LastCronCheck; !got.Equal(want) {
					t.Errorf("LastCronCheck = %v, want kept %v", got, want)
				}
				if got, want := s.DriftStatus, tt.cur.DriftStatus; got != want {
					t.Errorf("DriftStatus = %q, want kept %q", got, want)
				}
			}
			if out.Event == nil || out.Event.Source != gitops.SourceLegacy || out.Event.UpdatedBy != "legacy-api" {
				t.Errorf("event = %+v, want source legacy by legacy-api", out.Event)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func TestCronApply_create(t *testing.T) {
	u := &gitops.CronUpdate{
		ServerGroup: "splunk-prod", Host: "idx-01", Status: gitops.StatusOutOfSync,
		ChangedFiles: []string{"/opt/splunk/etc/system/local/inputs.conf"},
		ProjectName:  "p", RepoName: "splunk", ServerType: "splunk", Environment: "prod",
		StaleAfter: ptr("2h"), ReportedAt: at(-time.Minute),
	}
	out := u.Apply(nil, t0)
	if !out.Applied || !out.Created {
		t.Fatalf("Applied %v Created %v, want true true", out.Applied, out.Created)
	}
	assertServer(t, out.Server, gitops.Server{
		ServerGroup: "splunk-prod", Host: "idx-01",
		ProjectName: "p", RepoName: "splunk", ServerType: "splunk", Environment: "prod",
		Status: gitops.StatusOutOfSync, ChangedFiles: []string{"/opt/splunk/etc/system/local/inputs.conf"},
		ValidationStatus: gitops.ValidationUnknown,
		LastCronCheck:    t0, Timestamp: t0, StatusSince: t0,
		LastSource: gitops.SourceCron, Labels: map[string]string{},
		DriftStatus: gitops.StatusOutOfSync, StaleAfter: "2h",
		CronReportedAt: at(-time.Minute),
	})
}

func TestCronApply_existing(t *testing.T) {
	tests := []struct {
		name       string
		u          gitops.CronUpdate
		statusMove bool
		staleAfter string
	}{
		{
			name:       "drift again, other files, identity in body ignored",
			u:          gitops.CronUpdate{Status: gitops.StatusOutOfSync, ChangedFiles: []string{"/etc/x"}, ProjectName: "other", RepoName: "other", ServerType: "nginx", Environment: "dev"},
			statusMove: false, staleAfter: "30m",
		},
		{
			name:       "back in sync, stale_after omitted is kept",
			u:          gitops.CronUpdate{Status: gitops.StatusSynced},
			statusMove: true, staleAfter: "30m",
		},
		{
			name:       "stale_after given replaces",
			u:          gitops.CronUpdate{Status: gitops.StatusSynced, StaleAfter: ptr("0s")},
			statusMove: true, staleAfter: "0s",
		},
		{
			name:       "stale_after empty resets to global",
			u:          gitops.CronUpdate{Status: gitops.StatusOutOfSync, StaleAfter: ptr("")},
			statusMove: false, staleAfter: "",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cur := existing()
			u := tt.u
			u.ServerGroup, u.Host = cur.ServerGroup, cur.Host
			u.ReportedAt = at(-time.Second)
			out := u.Apply(&cur, t0)
			if !out.Applied || out.Created {
				t.Fatalf("Applied %v Created %v, want true false", out.Applied, out.Created)
			}
			want := existing()
			want.Status = u.Status
			want.ChangedFiles = u.ChangedFiles
			if want.ChangedFiles == nil {
				want.ChangedFiles = []string{}
			}
			want.LastCronCheck = t0
			want.Timestamp = t0
			want.DriftStatus = u.Status
			want.LastSource = gitops.SourceCron
			want.CronReportedAt = u.ReportedAt
			want.StaleAfter = tt.staleAfter
			if tt.statusMove {
				want.StatusSince = t0
			}
			assertServer(t, out.Server, want)
			if !reflect.DeepEqual(cur, existing()) {
				t.Fatalf("Apply modified cur:%s", diffServers(cur, existing()))
			}
		})
	}
}

func TestCronApply_withoutReportedAtClearsCronReportedAt(t *testing.T) {
	cur := existing()
	out := (&gitops.CronUpdate{ServerGroup: cur.ServerGroup, Host: cur.Host, Status: gitops.StatusSynced}).Apply(&cur, t0)
	if !out.Server.CronReportedAt.IsZero() {
		t.Fatalf("CronReportedAt = %v, want null: the last applied cron update had none", out.Server.CronReportedAt)
	}
	if got, want := out.Server.PipelineReportedAt, cur.PipelineReportedAt; !got.Equal(want) {
		t.Fatalf("PipelineReportedAt = %v, want kept %v", got, want)
	}
}

func TestApply_statusSince(t *testing.T) {
	tests := []struct {
		name string
		from gitops.Status
		kind string
		to   gitops.Status
		move bool
	}{
		{"pipeline same status", gitops.StatusSynced, "pipeline", gitops.StatusSynced, false},
		{"pipeline new status", gitops.StatusSynced, "pipeline", gitops.StatusFailed, true},
		{"cron same status", gitops.StatusOutOfSync, "cron", gitops.StatusOutOfSync, false},
		{"cron new status", gitops.StatusSynced, "cron", gitops.StatusOutOfSync, true},
		{"legacy same status", gitops.StatusUnknown, "legacy", gitops.StatusUnknown, false},
		{"legacy new status", gitops.StatusUnknown, "legacy", gitops.StatusSynced, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cur := existing()
			cur.Status = tt.from
			u := newUpdate(tt.kind, cur.Key(), tt.to)
			out := u.Apply(&cur, t0)
			want := cur.StatusSince
			if tt.move {
				want = t0
			}
			if got := out.Server.StatusSince; !got.Equal(want) {
				t.Fatalf("StatusSince = %v, want %v", got, want)
			}
		})
	}
}

// newUpdate returns a minimal update of kind pipeline, cron or legacy.
func newUpdate(kind string, k gitops.Key, st gitops.Status) gitops.Update {
	switch kind {
	case "cron":
		return &gitops.CronUpdate{ServerGroup: k.ServerGroup, Host: k.Host, Status: st}
	case "legacy":
		return &gitops.PipelineUpdate{Source: gitops.SourceLegacy, ServerGroup: k.ServerGroup, Host: k.Host, Status: st, UpdatedBy: "legacy-api"}
	default:
		return &gitops.PipelineUpdate{Source: gitops.SourcePipeline, ServerGroup: k.ServerGroup, Host: k.Host, Status: st}
	}
}

func TestApply_lastSourceAndAxes(t *testing.T) {
	// A deploy that failed, then a drift check: both axes stay visible.
	k := gitops.Key{ServerGroup: "g", Host: "h"}
	s := newUpdate("pipeline", k, gitops.StatusFailed).Apply(nil, at(-time.Hour)).Server
	if s.LastSource != gitops.SourcePipeline || s.PipelineStatus != gitops.StatusFailed || s.DriftStatus != "" {
		t.Fatalf("after pipeline: last_source %q pipeline_status %q drift_status %q", s.LastSource, s.PipelineStatus, s.DriftStatus)
	}
	s = newUpdate("cron", k, gitops.StatusOutOfSync).Apply(&s, t0).Server
	if s.LastSource != gitops.SourceCron || s.PipelineStatus != gitops.StatusFailed || s.DriftStatus != gitops.StatusOutOfSync || s.Status != gitops.StatusOutOfSync {
		t.Fatalf("after cron: last_source %q status %q pipeline_status %q drift_status %q", s.LastSource, s.Status, s.PipelineStatus, s.DriftStatus)
	}
	s = newUpdate("legacy", k, gitops.StatusSynced).Apply(&s, at(time.Hour)).Server
	if s.LastSource != gitops.SourceLegacy || s.PipelineStatus != gitops.StatusSynced || s.DriftStatus != gitops.StatusOutOfSync {
		t.Fatalf("after legacy: last_source %q pipeline_status %q drift_status %q", s.LastSource, s.PipelineStatus, s.DriftStatus)
	}
}

func TestApply_outOfOrder(t *testing.T) {
	// cur: pipeline applied with reported_at t0-2h1m at server time t0-2h,
	// cron applied with reported_at t0-1h1m.
	none := time.Time{}
	tests := []struct {
		name       string
		kind       string
		reportedAt time.Time
		mutate     func(*gitops.Server)
		applied    bool
		why        string
	}{
		{"pipeline without reported_at always applied", "pipeline", none, nil, true, ""},
		{"pipeline later than the last pipeline", "pipeline", at(-time.Minute), nil, true, ""},
		{"pipeline equal to the last pipeline", "pipeline", at(-2*time.Hour - time.Minute), nil, true, ""},
		{"pipeline earlier than the last pipeline", "pipeline", at(-3 * time.Hour), nil, false, "last applied pipeline update"},
		{"pipeline earlier than the last cron is applied", "pipeline", at(-2 * time.Hour), func(s *gitops.Server) { s.CronReportedAt = at(-time.Minute) }, true, ""},
		{"pipeline earlier than the last cron check is applied", "pipeline", at(-90 * time.Minute), nil, true, ""},
		{"pipeline when the last pipeline had none", "pipeline", at(-5 * time.Hour), func(s *gitops.Server) { s.PipelineReportedAt = time.Time{} }, true, ""},
		{"legacy never compared", "legacy", none, nil, true, ""},
		{"cron without reported_at always applied", "cron", none, nil, true, ""},
		{"cron later than both", "cron", at(-time.Minute), nil, true, ""},
		{"cron earlier than last_pipeline_run", "cron", at(-2*time.Hour - time.Second), func(s *gitops.Server) { s.CronReportedAt = time.Time{} }, false, "last pipeline run"},
		{"cron equal to last_pipeline_run", "cron", at(-2 * time.Hour), func(s *gitops.Server) { s.CronReportedAt = time.Time{} }, true, ""},
		{"cron earlier than the last cron", "cron", at(-90 * time.Minute), nil, false, "last applied cron update"},
		{"cron equal to the last cron", "cron", at(-time.Hour - time.Minute), nil, true, ""},
		{"cron when the last cron had none", "cron", at(-90 * time.Minute), func(s *gitops.Server) { s.CronReportedAt = time.Time{} }, true, ""},
		{"cron on a server never deployed", "cron", at(-5 * time.Hour), func(s *gitops.Server) { s.LastPipelineRun = time.Time{}; s.CronReportedAt = time.Time{} }, true, ""},
		{"cron compares with the server clock, not the pipeline's reported_at", "cron", at(-2*time.Hour - 30*time.Second), func(s *gitops.Server) { s.CronReportedAt = time.Time{} }, false, "last pipeline run"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cur := existing()
			if tt.mutate != nil {
				tt.mutate(&cur)
			}
			before := cur.Clone()
			var u gitops.Update
			switch tt.kind {
			case "cron":
				u = &gitops.CronUpdate{ServerGroup: cur.ServerGroup, Host: cur.Host, Status: gitops.StatusFailed, ReportedAt: tt.reportedAt}
			default:
				src := gitops.SourcePipeline
				if tt.kind == "legacy" {
					src = gitops.SourceLegacy
				}
				u = &gitops.PipelineUpdate{Source: src, ServerGroup: cur.ServerGroup, Host: cur.Host, Status: gitops.StatusFailed, ReportedAt: tt.reportedAt}
			}
			out := u.Apply(&cur, t0)
			if out.Applied != tt.applied {
				t.Fatalf("Applied = %v, want %v (warnings %q)", out.Applied, tt.applied, out.Warnings)
			}
			if tt.applied {
				if len(out.Warnings) != 0 {
					t.Fatalf("warnings = %q, want none", out.Warnings)
				}
				if out.Server.Status != gitops.StatusFailed {
					t.Fatalf("status = %q, want failed", out.Server.Status)
				}
				return
			}
			if len(out.Warnings) != 1 || !strings.Contains(out.Warnings[0], "not applied") || !strings.Contains(out.Warnings[0], tt.why) {
				t.Fatalf("warnings = %q, want one saying not applied because of the %s", out.Warnings, tt.why)
			}
			if !strings.Contains(out.Warnings[0], gitops.FormatTime(tt.reportedAt)) {
				t.Fatalf("warning %q does not name the reported_at %s", out.Warnings[0], gitops.FormatTime(tt.reportedAt))
			}
			if out.Event != nil {
				t.Fatalf("event = %+v, want none", out.Event)
			}
			if out.Created {
				t.Fatalf("Created = true")
			}
			assertServer(t, out.Server, before)
			assertServer(t, cur, before)
		})
	}
}

func TestApply_outOfOrderNeverOnCreate(t *testing.T) {
	for _, u := range []gitops.Update{
		&gitops.PipelineUpdate{Source: gitops.SourcePipeline, ServerGroup: "g", Host: "h", Status: gitops.StatusSynced, ReportedAt: time.Unix(0, 0)},
		&gitops.CronUpdate{ServerGroup: "g", Host: "h", Status: gitops.StatusSynced, ReportedAt: time.Unix(0, 0)},
	} {
		if out := u.Apply(nil, t0); !out.Applied || !out.Created {
			t.Fatalf("%T: Applied %v Created %v, want true true", u, out.Applied, out.Created)
		}
	}
}

func TestApply_events(t *testing.T) {
	base := existing() // out_of_sync, files [/etc/rsyslog.conf], commit abc1234, validation passed
	pipeline := func(mod func(*gitops.PipelineUpdate)) gitops.Update {
		u := &gitops.PipelineUpdate{
			Source: gitops.SourcePipeline, ServerGroup: base.ServerGroup, Host: base.Host,
			Status: base.Status, ChangedFiles: []string{"/etc/rsyslog.conf"},
			ValidationStatus: base.ValidationStatus, CommitSHA: base.CommitSHA, UpdatedBy: "jenkins",
		}
		if mod != nil {
			mod(u)
		}
		return u
	}
	cron := func(st gitops.Status, files ...string) gitops.Update {
		return &gitops.CronUpdate{ServerGroup: base.ServerGroup, Host: base.Host, Status: st, ChangedFiles: files}
	}
	type C = gitops.Change
	created := []C{gitops.ChangeCreated}
	tests := []struct {
		name string
		cur  *gitops.Server
		u    gitops.Update
		// changes is the event's changes list; nil means no event.
		changes []C
		src     gitops.Source
	}{
		{"pipeline creates", nil, pipeline(nil), created, gitops.SourcePipeline},
		{"cron creates", nil, cron(gitops.StatusSynced), created, gitops.SourceCron},
		{"pipeline same state", &base, pipeline(nil), nil, ""},
		{"pipeline only branch, message, labels change", &base, pipeline(func(u *gitops.PipelineUpdate) {
			u.Branch, u.ValidationMessage, u.Labels, u.Environment = "other", "other", map[string]string{"a": "b"}, "dev"
		}), nil, ""},
		{"pipeline status", &base, pipeline(func(u *gitops.PipelineUpdate) { u.Status = gitops.StatusSynced }), []C{"status"}, gitops.SourcePipeline},
		{"pipeline commit", &base, pipeline(func(u *gitops.PipelineUpdate) { u.CommitSHA = "fff0000" }), []C{"commit_sha"}, gitops.SourcePipeline},
		{"pipeline validation", &base, pipeline(func(u *gitops.PipelineUpdate) { u.ValidationStatus = gitops.ValidationFailed }), []C{"validation_status"}, gitops.SourcePipeline},
		{"pipeline files added", &base, pipeline(func(u *gitops.PipelineUpdate) { u.ChangedFiles = []string{"/etc/rsyslog.conf", "/etc/b"} }), []C{"changed_files"}, gitops.SourcePipeline},
		{"pipeline files removed", &base, pipeline(func(u *gitops.PipelineUpdate) { u.ChangedFiles = nil }), []C{"changed_files"}, gitops.SourcePipeline},
		{"pipeline files duplicated: same set", &base, pipeline(func(u *gitops.PipelineUpdate) { u.ChangedFiles = []string{"/etc/rsyslog.conf", "/etc/rsyslog.conf"} }), nil, ""},
		{"pipeline everything, listed in SPEC order", &base, pipeline(func(u *gitops.PipelineUpdate) {
			u.ChangedFiles, u.ValidationStatus, u.CommitSHA, u.Status = []string{"/etc/x"}, gitops.ValidationFailed, "fff0000", gitops.StatusFailed
		}), []C{"status", "commit_sha", "validation_status", "changed_files"}, gitops.SourcePipeline},
		{"same status, new commit and files: no status change", &base, pipeline(func(u *gitops.PipelineUpdate) { u.CommitSHA = "fff0000"; u.ChangedFiles = []string{"/etc/y"} }),
			[]C{"commit_sha", "changed_files"}, gitops.SourcePipeline},
		{"legacy status", &base, func() gitops.Update {
			u := pipeline(func(u *gitops.PipelineUpdate) { u.Status = gitops.StatusFailed }).(*gitops.PipelineUpdate)
			u.Source = gitops.SourceLegacy
			return u
		}(), []C{"status"}, gitops.SourceLegacy},
		{"cron same state again", &base, cron(gitops.StatusOutOfSync, "/etc/rsyslog.conf"), nil, ""},
		{"cron status", &base, cron(gitops.StatusSynced, "/etc/rsyslog.conf"), []C{"status"}, gitops.SourceCron},
		{"cron status and files", &base, cron(gitops.StatusSynced), []C{"status", "changed_files"}, gitops.SourceCron},
		{"cron new file", &base, cron(gitops.StatusOutOfSync, "/etc/rsyslog.conf", "/etc/x"), []C{"changed_files"}, gitops.SourceCron},
		{"cron files cleared", &base, cron(gitops.StatusOutOfSync), []C{"changed_files"}, gitops.SourceCron},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := tt.u.Apply(tt.cur, t0)
			if !out.Applied {
				t.Fatalf("not applied: %q", out.Warnings)
			}
			if tt.changes == nil {
				if out.Event != nil {
					t.Fatalf("event = %+v, want none", out.Event)
				}
				return
			}
			ev := out.Event
			if ev == nil {
				t.Fatal("no event")
			}
			s := out.Server
			want := gitops.Event{
				Time: gitops.Time{Time: t0}, ServerGroup: s.ServerGroup, Host: s.Host, Source: tt.src,
				Status: s.Status, CommitSHA: s.CommitSHA, ValidationStatus: s.ValidationStatus,
				ChangedFiles: s.ChangedFiles, Changes: tt.changes,
			}
			if tt.cur != nil {
				want.PreviousStatus = tt.cur.Status
			}
			if tt.src != gitops.SourceCron {
				want.UpdatedBy = s.UpdatedBy
			}
			if !reflect.DeepEqual(*ev, want) {
				t.Fatalf("event =\n%+v\nwant\n%+v", *ev, want)
			}
		})
	}
}

func TestDeriveChanges(t *testing.T) {
	tests := []struct {
		name           string
		status, before gitops.Status
		want           []gitops.Change
	}{
		{"no previous status: a creation", "synced", "", []gitops.Change{"created"}},
		{"status moved", "failed", "synced", []gitops.Change{"status"}},
		{"same status: what changed is not known from the event alone", "failed", "failed", []gitops.Change{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := gitops.DeriveChanges(&gitops.Event{Status: tt.status, PreviousStatus: tt.before})
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("DeriveChanges = %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestApply_eventFilesOrderIsNotAChange(t *testing.T) {
	cur := existing()
	cur.ChangedFiles = []string{"/a", "/b", "/c"}
	for _, files := range [][]string{{"/c", "/b", "/a"}, {"/b", "/a", "/c", "/a"}} {
		out := (&gitops.CronUpdate{ServerGroup: cur.ServerGroup, Host: cur.Host, Status: cur.Status, ChangedFiles: files}).Apply(&cur, t0)
		if out.Event != nil {
			t.Fatalf("files %q: event %+v, want none (same set)", files, out.Event)
		}
		// The record keeps what the check reported, in its order.
		if !reflect.DeepEqual(out.Server.ChangedFiles, files) {
			t.Fatalf("ChangedFiles = %q, want %q", out.Server.ChangedFiles, files)
		}
	}
}

func TestApply_repeatedCronMovesTimes(t *testing.T) {
	k := gitops.Key{ServerGroup: "g", Host: "h"}
	u := &gitops.CronUpdate{ServerGroup: k.ServerGroup, Host: k.Host, Status: gitops.StatusOutOfSync, ChangedFiles: []string{"/a"}}
	first := u.Apply(nil, at(-time.Hour))
	second := u.Apply(&first.Server, t0)
	if !second.Applied || second.Event != nil {
		t.Fatalf("Applied %v event %+v, want applied without event", second.Applied, second.Event)
	}
	if got := second.Server.LastCronCheck; !got.Equal(t0) {
		t.Fatalf("LastCronCheck = %v, want %v", got, t0)
	}
	if got := second.Server.Timestamp; !got.Equal(t0) {
		t.Fatalf("Timestamp = %v, want %v", got, t0)
	}
	if got, want := second.Server.StatusSince, at(-time.Hour); !got.Equal(want) {
		t.Fatalf("StatusSince = %v, want %v", got, want)
	}
}

func TestApply_eventDoesNotAliasTheRecord(t *testing.T) {
	out := (&gitops.CronUpdate{ServerGroup: "g", Host: "h", Status: gitops.StatusOutOfSync, ChangedFiles: []string{"/a"}}).Apply(nil, t0)
	out.Event.ChangedFiles[0] = "/changed"
	if out.Server.ChangedFiles[0] != "/a" {
		t.Fatalf("the event shares the record's changed_files")
	}
}

func TestApply_clockTruncatedToMicrosecondsUTC(t *testing.T) {
	now := time.Date(2026, 4, 26, 15, 0, 0, 123456789, time.FixedZone("", 3*3600))
	out := newUpdate("pipeline", gitops.Key{ServerGroup: "g", Host: "h"}, gitops.StatusSynced).Apply(nil, now)
	want := time.Date(2026, 4, 26, 12, 0, 0, 123456000, time.UTC)
	if got := out.Server.Timestamp; got != want {
		t.Fatalf("Timestamp = %v, want %v", got, want)
	}
}

func TestLegacyApply_isOfThePipelineKind(t *testing.T) {
	// A legacy update has no reported_at: once it is applied, the last
	// applied pipeline-kind update had none, so an older pipeline report is
	// no longer compared with anything.
	cur := existing()
	out := newUpdate("legacy", cur.Key(), gitops.StatusSynced).Apply(&cur, t0)
	if !out.Server.PipelineReportedAt.IsZero() {
		t.Fatalf("PipelineReportedAt = %v, want null after a legacy update", out.Server.PipelineReportedAt)
	}
	late := &gitops.PipelineUpdate{Source: gitops.SourcePipeline, ServerGroup: cur.ServerGroup, Host: cur.Host,
		Status: gitops.StatusFailed, ReportedAt: at(-5 * time.Hour)}
	if next := late.Apply(&out.Server, at(time.Minute)); !next.Applied {
		t.Fatalf("not applied: %q", next.Warnings)
	}
}

// TestScenario_parsedBodies runs bodies as clients send them through the
// parser and Apply, as a store does, and checks what a user reads back.
func TestScenario_parsedBodies(t *testing.T) {
	type step struct {
		kind    string // pipeline | cron | legacy
		body    string
		now     time.Time
		applied bool
		event   bool
		status  gitops.Status
	}
	steps := []step{
		{"pipeline", seedPipelineBody, at(-3 * time.Hour), true, true, gitops.StatusSynced},
		{"cron", seedCronBody, at(-2 * time.Hour), true, true, gitops.StatusOutOfSync},
		{"cron", seedCronBody, at(-time.Hour), true, false, gitops.StatusOutOfSync},
		// The fix is deployed; its report carries when the deploy finished.
		{"pipeline", `{"server_group":"rsyslog-prod","host":"rsyslog-01","status":"synced","commit_sha":"def5678",
			"reported_at":"2026-04-26T11:29:00Z"}`, at(-30 * time.Minute), true, true, gitops.StatusSynced},
		// A drift check that started before that deploy finished arrives late.
		{"cron", `{"server_group":"rsyslog-prod","host":"rsyslog-01","status":"out_of_sync","changed_files":["/etc/rsyslog.conf"],
			"reported_at":"2026-04-26T11:20:00Z"}`, at(-25 * time.Minute), false, false, gitops.StatusSynced},
		// A retried older pipeline report is held back too.
		{"pipeline", `{"server_group":"rsyslog-prod","host":"rsyslog-01","status":"failed","reported_at":"2026-04-26T11:00:00Z"}`,
			at(-20 * time.Minute), false, false, gitops.StatusSynced},
		// A v2.0-migrated cron script sends last_cron_check: read as reported_at.
		{"cron", `{"server_group":"rsyslog-prod","host":"rsyslog-01","status":"synced","last_cron_check":"2026-04-26T11:50:00+00:00"}`,
			at(-5 * time.Minute), true, false, gitops.StatusSynced},
	}
	var cur *gitops.Server
	for i, st := range steps {
		var u gitops.Update
		var err error
		switch st.kind {
		case "cron":
			u, _, err = gitops.ParseCronUpdate([]byte(st.body), opts)
		case "legacy":
			u, _, err = gitops.ParseLegacyUpdate([]byte(st.body), opts)
		default:
			u, _, err = gitops.ParsePipelineUpdate([]byte(st.body), opts)
		}
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		out := u.Apply(cur, st.now)
		if out.Applied != st.applied || (out.Event != nil) != st.event || out.Server.Status != st.status {
			t.Fatalf("step %d (%s): applied %v event %v status %q; want %v %v %q (warnings %q)",
				i, st.kind, out.Applied, out.Event != nil, out.Server.Status, st.applied, st.event, st.status, out.Warnings)
		}
		s := out.Server
		cur = &s
	}
	got := marshalMap(t, *cur)
	want := map[string]any{
		"status": "synced", "commit_sha": "def5678", "validation_status": "unknown", "updated_by": "",
		"last_pipeline_run": "2026-04-26T11:30:00Z", "last_cron_check": "2026-04-26T11:55:00Z",
		"timestamp": "2026-04-26T11:55:00Z", "status_since": "2026-04-26T11:30:00Z",
		"last_source": "cron", "pipeline_status": "synced", "drift_status": "synced",
		"pipeline_reported_at": "2026-04-26T11:29:00Z", "cron_reported_at": "2026-04-26T11:50:00Z",
		"changed_files": []any{}, "changed_files_count": float64(0),
	}
	for k, w := range want {
		if g := got[k]; !reflect.DeepEqual(g, w) {
			t.Errorf("%s = %#v, want %#v", k, g, w)
		}
	}
}
