package storetest

import (
	"testing"
	"time"

	gitops "github.com/gitops-status/gitops-status"
)

// checkOutcome checks an applied outcome's record against want, and that
// Get then returns exactly that record.
func (e *env) checkOutcome(o gitops.Outcome, want gitops.Server, created bool) {
	e.t.Helper()
	if !o.Applied {
		e.t.Fatalf("Apply(%s): not applied (warnings %q), want applied", want.Key(), o.Warnings)
	}
	if o.Created != created {
		e.t.Errorf("Apply(%s): Created = %v, want %v", want.Key(), o.Created, created)
	}
	if d := diffServer(o.Server, want); d != "" {
		e.t.Errorf("Apply(%s) returned a record that differs from the expected one:\n%s", want.Key(), d)
	}
	got := e.get(want.ServerGroup, want.Host)
	if d := diffServer(got, o.Server); d != "" {
		e.t.Errorf("Get(%s) after Apply differs from the outcome's record:\n%s", want.Key(), d)
	}
}

func (h *harness) testApply(t *testing.T) {
	t.Run("PipelineCreates", func(t *testing.T) {
		e := h.newEnv(t, 0)
		u := pipeline("rsyslog-prod", "rsyslog-01", gitops.StatusSynced, sha(1))
		u.StaleAfter = "45m"
		u.ReportedAt = T0.Add(-10 * time.Second)
		o := e.apply(u)
		e.checkOutcome(o, gitops.Server{
			ServerGroup:        "rsyslog-prod",
			Host:               "rsyslog-01",
			ProjectName:        "infra-rsyslog-prod",
			RepoName:           "rsyslog-config",
			ServerType:         "rsyslog",
			Environment:        "prod",
			Status:             gitops.StatusSynced,
			ChangedFiles:       []string{"rsyslog.d/50-remote.conf", "rsyslog.conf", "a/b.conf"},
			ValidationStatus:   gitops.ValidationPassed,
			ValidationMessage:  "rsyslogd -N1 ok",
			CommitSHA:          sha(1),
			Branch:             "main",
			UpdatedBy:          "woodpecker",
			LastPipelineRun:    T0,
			Timestamp:          T0,
			StatusSince:        T0,
			LastSource:         gitops.SourcePipeline,
			Labels:             map[string]string{"datacenter": "dc1", "owner": "ops"},
			PipelineStatus:     gitops.StatusSynced,
			StaleAfter:         "45m",
			PipelineReportedAt: T0.Add(-10 * time.Second),
		}, true)
		if o.Event == nil {
			t.Fatal("creating a server wrote no event")
		}
	})

	t.Run("PipelineReplacesItsFields", func(t *testing.T) {
		e := h.newEnv(t, 0)
		first := pipeline("g", "h", gitops.StatusFailed, sha(1))
		first.StaleAfter = "45m"
		first.ReportedAt = T0
		e.apply(first)
		e.clock.Advance(time.Minute + time.Microsecond)
		t1 := T0.Add(time.Minute + time.Microsecond)
		// A pipeline report is the whole truth of its fields: what it
		// omits is reset, not kept.
		second := &gitops.PipelineUpdate{Source: gitops.SourcePipeline, ServerGroup: "g", Host: "h",
			Status: gitops.StatusFailed, CommitSHA: sha(2)}
		o := e.apply(second)
		e.checkOutcome(o, gitops.Server{
			ServerGroup:      "g",
			Host:             "h",
			Status:           gitops.StatusFailed,
			ValidationStatus: gitops.ValidationUnknown,
			CommitSHA:        sha(2),
			LastPipelineRun:  t1,
			Timestamp:        t1,
			StatusSince:      T0, // the status did not change
			LastSource:       gitops.SourcePipeline,
			PipelineStatus:   gitops.StatusFailed,
		}, false)
	})

	t.Run("CronCreates", func(t *testing.T) {
		e := h.newEnv(t, 0)
		u := cron("nginx-prod", "web-01", gitops.StatusOutOfSync, "nginx.conf", "conf.d/a.conf")
		u.ProjectName, u.RepoName, u.ServerType, u.Environment = "web", "nginx-config", "nginx", "prod"
		u.StaleAfter = strptr("2h")
		u.ReportedAt = T0.Add(-time.Minute)
		o := e.apply(u)
		e.checkOutcome(o, gitops.Server{
			ServerGroup:      "nginx-prod",
			Host:             "web-01",
			ProjectName:      "web",
			RepoName:         "nginx-config",
			ServerType:       "nginx",
			Environment:      "prod",
			Status:           gitops.StatusOutOfSync,
			ChangedFiles:     []string{"nginx.conf", "conf.d/a.conf"},
			ValidationStatus: gitops.ValidationUnknown,
			LastCronCheck:    T0,
			Timestamp:        T0,
			StatusSince:      T0,
			LastSource:       gitops.SourceCron,
			DriftStatus:      gitops.StatusOutOfSync,
			StaleAfter:       "2h",
			CronReportedAt:   T0.Add(-time.Minute),
		}, true)
		if o.Event == nil {
			t.Fatal("creating a server wrote no event")
		}
	})

	t.Run("CronKeepsPipelineFields", func(t *testing.T) {
		e := h.newEnv(t, 0)
		p := pipeline("rsyslog-prod", "rsyslog-01", gitops.StatusSynced, sha(7))
		p.StaleAfter = "45m"
		p.ReportedAt = T0
		before := e.apply(p).Server
		e.clock.Advance(5 * time.Minute)
		t1 := T0.Add(5 * time.Minute)
		c := cron("rsyslog-prod", "rsyslog-01", gitops.StatusOutOfSync, "rsyslog.conf")
		// Identity fields from a cron body count only when it creates.
		c.ProjectName, c.RepoName, c.ServerType, c.Environment = "other", "other", "other", "other"
		c.ReportedAt = t1.Add(-time.Second)
		o := e.apply(c)
		want := before
		want.Status = gitops.StatusOutOfSync
		want.ChangedFiles = []string{"rsyslog.conf"}
		want.LastCronCheck = t1
		want.Timestamp = t1
		want.StatusSince = t1
		want.LastSource = gitops.SourceCron
		want.DriftStatus = gitops.StatusOutOfSync
		want.CronReportedAt = t1.Add(-time.Second)
		e.checkOutcome(o, want, false)

		// A cron that names a threshold replaces it; one that omits it keeps it.
		e.clock.Advance(time.Minute)
		c2 := cron("rsyslog-prod", "rsyslog-01", gitops.StatusOutOfSync, "rsyslog.conf")
		c2.StaleAfter = strptr("10m")
		if got := e.apply(c2).Server.StaleAfter; got != "10m" {
			t.Errorf("cron with stale_after 10m: StaleAfter = %q, want 10m", got)
		}
		if got := e.get("rsyslog-prod", "rsyslog-01").StaleAfter; got != "10m" {
			t.Errorf("stored StaleAfter after cron with stale_after 10m = %q, want 10m", got)
		}
		e.clock.Advance(time.Minute)
		e.apply(cron("rsyslog-prod", "rsyslog-01", gitops.StatusSynced))
		if got := e.get("rsyslog-prod", "rsyslog-01").StaleAfter; got != "10m" {
			t.Errorf("stored StaleAfter after cron without stale_after = %q, want 10m kept", got)
		}
	})

	t.Run("PipelineKeepsCronFields", func(t *testing.T) {
		e := h.newEnv(t, 0)
		c := cron("g", "h", gitops.StatusOutOfSync, "x.conf")
		c.ReportedAt = T0.Add(-time.Second)
		before := e.apply(c).Server
		e.clock.Advance(time.Hour)
		t1 := T0.Add(time.Hour)
		p := pipeline("g", "h", gitops.StatusSynced, sha(3))
		o := e.apply(p)
		e.checkOutcome(o, gitops.Server{
			ServerGroup:       "g",
			Host:              "h",
			ProjectName:       p.ProjectName,
			RepoName:          p.RepoName,
			ServerType:        p.ServerType,
			Environment:       p.Environment,
			Status:            gitops.StatusSynced,
			ChangedFiles:      p.ChangedFiles,
			ValidationStatus:  p.ValidationStatus,
			ValidationMessage: p.ValidationMessage,
			CommitSHA:         sha(3),
			Branch:            p.Branch,
			UpdatedBy:         p.UpdatedBy,
			LastPipelineRun:   t1,
			LastCronCheck:     before.LastCronCheck,
			Timestamp:         t1,
			StatusSince:       t1,
			LastSource:        gitops.SourcePipeline,
			Labels:            p.Labels,
			PipelineStatus:    gitops.StatusSynced,
			DriftStatus:       gitops.StatusOutOfSync,
			CronReportedAt:    T0.Add(-time.Second),
		}, false)
	})

	t.Run("Legacy", func(t *testing.T) {
		e := h.newEnv(t, 0)
		u := legacy("rsyslog", "rsyslog-01", gitops.StatusOutOfSync)
		u.LastCheck = T0.Add(-3 * time.Minute)
		o := e.apply(u)
		e.checkOutcome(o, gitops.Server{
			ServerGroup:      "rsyslog",
			Host:             "rsyslog-01",
			RepoName:         "rsyslog",
			ServerType:       "rsyslog",
			Status:           gitops.StatusOutOfSync,
			ChangedFiles:     []string{"rsyslog.conf"},
			ValidationStatus: gitops.ValidationUnknown,
			UpdatedBy:        "legacy-api",
			LastPipelineRun:  T0.Add(-3 * time.Minute),
			Timestamp:        T0,
			StatusSince:      T0,
			LastSource:       gitops.SourceLegacy,
			PipelineStatus:   gitops.StatusOutOfSync,
			LegacyWrittenAt:  T0,
		}, true)
	})

	t.Run("ParsedBodies", func(t *testing.T) {
		e := h.newEnv(t, 0)
		p := gitops.ParseOptions{Now: T0, MaxClockSkew: 5 * time.Minute}
		pu, _, err := gitops.ParsePipelineUpdate([]byte(`{
			"server_group": "splunk-prod", "host": "idx-01", "status": "SYNCED",
			"project_name": "splunk", "repo_name": "splunk-config", "server_type": "splunk", "environment": "prod",
			"changed_files": ["b.conf", "a.conf"], "validation_status": "Passed", "validation_message": "btool ok",
			"commit_sha": "0123456789abcdef0123456789abcdef01234567", "branch": "release/1.2", "updated_by": "gitlab",
			"labels": {"datacenter": "dc2"}, "stale_after": "30m", "reported_at": "2026-04-26T12:29:59.5+02:00"}`), p)
		if err != nil {
			t.Fatal(err)
		}
		created := e.apply(pu)
		e.checkOutcome(created, gitops.Server{
			ServerGroup:        "splunk-prod",
			Host:               "idx-01",
			ProjectName:        "splunk",
			RepoName:           "splunk-config",
			ServerType:         "splunk",
			Environment:        "prod",
			Status:             gitops.StatusSynced,
			ChangedFiles:       []string{"b.conf", "a.conf"},
			ValidationStatus:   gitops.ValidationPassed,
			ValidationMessage:  "btool ok",
			CommitSHA:          "0123456789abcdef0123456789abcdef01234567",
			Branch:             "release/1.2",
			UpdatedBy:          "gitlab",
			LastPipelineRun:    T0,
			Timestamp:          T0,
			StatusSince:        T0,
			LastSource:         gitops.SourcePipeline,
			Labels:             map[string]string{"datacenter": "dc2"},
			PipelineStatus:     gitops.StatusSynced,
			StaleAfter:         "30m",
			PipelineReportedAt: time.Date(2026, 4, 26, 10, 29, 59, 500000000, time.UTC),
		}, true)

		e.clock.Advance(time.Minute)
		cu, _, err := gitops.ParseCronUpdate([]byte(`{"server_group": "splunk-prod", "host": "idx-01",
			"status": "out_of_sync", "changed_files": ["a.conf"]}`), p)
		if err != nil {
			t.Fatal(err)
		}
		want := created.Server
		want.Status, want.DriftStatus = gitops.StatusOutOfSync, gitops.StatusOutOfSync
		want.ChangedFiles = []string{"a.conf"}
		want.LastCronCheck, want.Timestamp, want.StatusSince = T0.Add(time.Minute), T0.Add(time.Minute), T0.Add(time.Minute)
		want.LastSource = gitops.SourceCron
		e.checkOutcome(e.apply(cu), want, false)
	})
}

func (h *harness) testOutOfOrder(t *testing.T) {
	tests := []struct {
		name  string
		setup []gitops.Update
		late  gitops.Update
	}{
		{
			name: "PipelineOlderThanLastPipeline",
			setup: []gitops.Update{func() gitops.Update {
				u := pipeline("g", "h", gitops.StatusSynced, sha(1))
				u.ReportedAt = T0.Add(-time.Minute)
				return u
			}()},
			late: func() gitops.Update {
				u := pipeline("g", "h", gitops.StatusFailed, sha(2))
				u.ReportedAt = T0.Add(-2 * time.Minute)
				return u
			}(),
		},
		{
			name:  "CronOlderThanLastPipelineRun",
			setup: []gitops.Update{pipeline("g", "h", gitops.StatusSynced, sha(1))},
			late: func() gitops.Update {
				u := cron("g", "h", gitops.StatusOutOfSync, "x.conf")
				u.ReportedAt = T0.Add(-time.Second) // started before the deploy finished
				return u
			}(),
		},
		{
			name: "CronOlderThanLastCron",
			setup: []gitops.Update{func() gitops.Update {
				u := cron("g", "h", gitops.StatusSynced)
				u.ReportedAt = T0.Add(-time.Minute)
				return u
			}()},
			late: func() gitops.Update {
				u := cron("g", "h", gitops.StatusOutOfSync, "x.conf")
				u.ReportedAt = T0.Add(-2 * time.Minute)
				return u
			}(),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := h.newEnv(t, 0)
			for _, u := range tt.setup {
				e.apply(u)
			}
			e.clock.Advance(time.Hour)
			before := e.get("g", "h")
			eventsBefore := e.events(gitops.EventFilter{})

			o := e.apply(tt.late)
			if o.Applied {
				t.Fatalf("out-of-order update was applied")
			}
			if len(o.Warnings) == 0 {
				t.Errorf("out-of-order update: no warning says why it was not applied")
			}
			if o.Event != nil {
				t.Errorf("out-of-order update: outcome has an event")
			}
			if d := diffServer(o.Server, before); d != "" {
				t.Errorf("out-of-order update: the outcome's record is not the unchanged one:\n%s", d)
			}
			e.wantStored(before)
			if got := e.events(gitops.EventFilter{}); len(got) != len(eventsBefore) {
				t.Errorf("out-of-order update: %d events, want %d (nothing written)", len(got), len(eventsBefore))
			}
		})
	}
}
