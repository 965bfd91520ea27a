package storetest

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	gitops "github.com/gitops-status/gitops-status"
)

func (h *harness) testNotFound(t *testing.T) {
	e := h.newEnv(t, 0)
	e.apply(pipeline("g", "h", gitops.StatusSynced, sha(1)))
	for _, k := range []gitops.Key{{ServerGroup: "g", Host: "other"}, {ServerGroup: "other", Host: "h"}, {ServerGroup: "G", Host: "h"}} {
		_, err := e.s.Get(e.ctx, k)
		wantCode(t, fmt.Sprintf("Get(%s)", k), err, gitops.ENOTFOUND)
		wantCode(t, fmt.Sprintf("Delete(%s)", k), e.s.Delete(e.ctx, k), gitops.ENOTFOUND)
	}
}

func (h *harness) testDelete(t *testing.T) {
	e := h.newEnv(t, 0)
	e.apply(pipeline("g", "h1", gitops.StatusSynced, sha(1)))
	e.apply(pipeline("g", "h2", gitops.StatusSynced, sha(1)))
	e.clock.Advance(time.Minute)
	e.apply(cron("g", "h1", gitops.StatusOutOfSync, "x.conf"))
	k := gitops.Key{ServerGroup: "g", Host: "h1"}
	if err := e.s.Delete(e.ctx, k); err != nil {
		t.Fatalf("Delete(%s): %v", k, err)
	}
	_, err := e.s.Get(e.ctx, k)
	wantCode(t, "Get after Delete", err, gitops.ENOTFOUND)
	wantCode(t, "Delete twice", e.s.Delete(e.ctx, k), gitops.ENOTFOUND)
	if got, n := e.list(gitops.Filter{}); !slices.Equal(keys(got), []string{"g/h2"}) || n != 1 {
		t.Errorf("List after Delete = %q (total %d), want [g/h2]", keys(got), n)
	}
	if evs := e.events(gitops.EventFilter{ServerGroup: []string{"g"}, Host: "h1"}); len(evs) != 2 {
		t.Errorf("Delete must keep the server's events: %d left, want 2", len(evs))
	}
	// The key can be used again, by a new server with a new history.
	if o := e.apply(cron("g", "h1", gitops.StatusSynced)); !o.Created {
		t.Errorf("update after Delete: Created = false, want true")
	}
}

// importedServer is a record as a v2 import carries it, every field set.
func importedServer(group, host string, ts time.Time) gitops.Server {
	return gitops.Server{
		ServerGroup:        group,
		Host:               host,
		ProjectName:        "project-" + host,
		RepoName:           "splunk-config",
		ServerType:         "splunk",
		Environment:        "prod",
		Status:             gitops.StatusOutOfSync,
		ChangedFiles:       []string{"z.conf", "a.conf", "m/indexes.conf"},
		ValidationStatus:   gitops.ValidationFailed,
		ValidationMessage:  "btool: line 3",
		CommitSHA:          sha(99),
		Branch:             "main",
		UpdatedBy:          "jenkins",
		LastPipelineRun:    ts.Add(-2 * time.Hour),
		LastCronCheck:      ts,
		Timestamp:          ts,
		StatusSince:        ts.Add(-time.Hour),
		LastSource:         gitops.SourceCron,
		Labels:             map[string]string{"datacenter": "dc3", "owner": "search"},
		PipelineStatus:     gitops.StatusSynced,
		DriftStatus:        gitops.StatusOutOfSync,
		StaleAfter:         "0s",
		PipelineReportedAt: ts.Add(-2*time.Hour - time.Second),
		CronReportedAt:     ts.Add(-time.Second),
		Imported:           true,
	}
}

func (h *harness) testLegacyLatest(t *testing.T) {
	e := h.newEnv(t, 0)
	wantLatest := func(what, key string) {
		t.Helper()
		s, err := e.s.LegacyLatest(e.ctx)
		switch {
		case key == "":
			wantCode(t, "LegacyLatest "+what, err, gitops.ENOTFOUND)
		case err != nil:
			t.Errorf("LegacyLatest %s: %v, want %s", what, err, key)
		case s.Key().String() != key:
			t.Errorf("LegacyLatest %s = %s, want %s", what, s.Key(), key)
		}
	}
	wantLatest("of an empty store", "")
	e.apply(pipeline("g", "pipe", gitops.StatusSynced, sha(1)))
	e.apply(cron("g", "cron", gitops.StatusSynced))
	wantLatest("with only pipeline- and cron-written servers", "")

	e.importServers([]gitops.Server{
		importedServer("imp", "a", T0.Add(-3*time.Hour)),
		importedServer("imp", "b", T0.Add(-time.Hour)),
		importedServer("imp", "c", T0.Add(-2*time.Hour)),
	}, gitops.ImportReplace)
	wantLatest("after an import", "imp/b")
	if s, err := e.s.LegacyLatest(e.ctx); err == nil {
		if d := diffServer(s, importedServer("imp", "b", T0.Add(-time.Hour))); d != "" {
			t.Errorf("LegacyLatest returned a record that differs from the imported one:\n%s", d)
		}
	}
	// A cron or pipeline update keeps a server imported and moves its
	// timestamp: the oldest imported server becomes the newest.
	e.apply(cron("imp", "a", gitops.StatusSynced))
	wantLatest("after a cron update of the oldest imported server", "imp/a")

	e.clock.Advance(time.Minute)
	e.apply(legacy("rsyslog", "l1", gitops.StatusSynced))
	e.clock.Advance(time.Minute)
	e.apply(legacy("rsyslog", "l2", gitops.StatusOutOfSync))
	wantLatest("after legacy updates", "rsyslog/l2")
	e.clock.Advance(time.Minute)
	e.apply(cron("rsyslog", "l1", gitops.StatusFailed))
	e.apply(pipeline("rsyslog", "l1", gitops.StatusFailed, sha(3)))
	wantLatest("after later cron and pipeline updates of another legacy server", "rsyslog/l2")
	e.clock.Advance(time.Minute)
	e.apply(legacy("imp", "a", gitops.StatusSynced))
	wantLatest("after a legacy update of an imported server", "imp/a")
	if s := e.get("imp", "a"); s.Imported || !s.LegacyWrittenAt.Equal(T0.Add(4*time.Minute)) {
		t.Errorf("imported server written by the legacy API: Imported %v, LegacyWrittenAt %s; want false, %s",
			s.Imported, show(s.LegacyWrittenAt), show(T0.Add(4*time.Minute)))
	}

	for _, step := range []struct {
		del  gitops.Key
		want string
	}{
		{gitops.Key{ServerGroup: "imp", Host: "a"}, "rsyslog/l2"},
		{gitops.Key{ServerGroup: "rsyslog", Host: "l2"}, "rsyslog/l1"},
		{gitops.Key{ServerGroup: "rsyslog", Host: "l1"}, "imp/b"}, // no legacy-written server left: the newest imported
		{gitops.Key{ServerGroup: "imp", Host: "b"}, "imp/c"},
		{gitops.Key{ServerGroup: "imp", Host: "c"}, ""},
	} {
		if err := e.s.Delete(e.ctx, step.del); err != nil {
			t.Fatalf("Delete(%s): %v", step.del, err)
		}
		wantLatest("after deleting "+step.del.String(), step.want)
	}

	// Equal timestamps go to the first key; an imported server without a
	// timestamp comes after every one with one, and is found when alone.
	undated := importedServer("tie", "0", T0)
	undated.Timestamp = time.Time{}
	e.importServers([]gitops.Server{importedServer("tie", "b", T0), undated, importedServer("tie", "a", T0)}, gitops.ImportReplace)
	wantLatest("of imported servers with one timestamp", "tie/a")
	for _, h := range []string{"a", "b"} {
		if err := e.s.Delete(e.ctx, gitops.Key{ServerGroup: "tie", Host: h}); err != nil {
			t.Fatal(err)
		}
	}
	wantLatest("of an imported server without a timestamp", "tie/0")
}

func (h *harness) testImport(t *testing.T) {
	t.Run("FirstStart", func(t *testing.T) {
		e := h.newEnv(t, 0)
		legacyWritten := importedServer("rsyslog", "old-01", T0.Add(-time.Hour))
		legacyWritten.Imported, legacyWritten.LegacyWrittenAt, legacyWritten.LastSource = false, T0.Add(-time.Hour), gitops.SourceLegacy
		minimal := gitops.Server{ServerGroup: "v1", Host: "only-status", Status: gitops.StatusUnknown,
			ValidationStatus: gitops.ValidationUnknown, Timestamp: T0.Add(-time.Minute), StatusSince: T0.Add(-time.Minute), Imported: true}
		servers := []gitops.Server{
			importedServer("splunk-prod", "idx-01", T0.Add(-90*time.Minute)),
			importedServer("splunk-prod", "idx-02", T0.Add(-30*time.Minute)),
			legacyWritten,
			minimal,
		}
		if !e.importServers(servers, gitops.ImportFirstStart) {
			t.Fatal("ImportFirstStart into an empty store = false, want true")
		}
		for _, s := range servers {
			e.wantStored(s)
		}
		if evs := e.events(gitops.EventFilter{}); len(evs) != 0 {
			t.Errorf("import wrote %d events, want none", len(evs))
		}

		if e.importServers([]gitops.Server{importedServer("other", "x", T0)}, gitops.ImportFirstStart) {
			t.Error("second ImportFirstStart = true, want false")
		}
		if _, n := e.list(gitops.Filter{}); n != len(servers) {
			t.Errorf("after a second ImportFirstStart: %d servers, want %d", n, len(servers))
		}
		for _, s := range servers {
			if err := e.s.Delete(e.ctx, s.Key()); err != nil {
				t.Fatal(err)
			}
		}
		if e.importServers([]gitops.Server{importedServer("other", "x", T0)}, gitops.ImportFirstStart) {
			t.Error("ImportFirstStart after deleting every server = true, want false: the import happened already")
		}
		if _, n := e.list(gitops.Filter{}); n != 0 {
			t.Errorf("after ImportFirstStart into an emptied store: %d servers, want 0", n)
		}
	})

	t.Run("FirstStartWithServers", func(t *testing.T) {
		e := h.newEnv(t, 0)
		o := e.apply(pipeline("g", "h", gitops.StatusSynced, sha(1)))
		if e.importServers([]gitops.Server{importedServer("g", "h", T0), importedServer("g", "i", T0)}, gitops.ImportFirstStart) {
			t.Error("ImportFirstStart into a store with servers = true, want false")
		}
		if got, n := e.list(gitops.Filter{}); n != 1 || len(got) != 1 {
			t.Errorf("after ImportFirstStart into a store with servers: %q, want only g/h", keys(got))
		}
		e.wantStored(o.Server)
	})

	t.Run("Replace", func(t *testing.T) {
		e := h.newEnv(t, 0)
		e.apply(pipeline("g", "a", gitops.StatusSynced, sha(1)))
		b := e.apply(pipeline("g", "b", gitops.StatusSynced, sha(1))).Server
		newA := importedServer("g", "a", T0.Add(-time.Hour))
		c := importedServer("g", "c", T0.Add(-2*time.Hour))
		if !e.importServers([]gitops.Server{newA, c}, gitops.ImportReplace) {
			t.Fatal("ImportReplace = false, want true")
		}
		e.wantStored(newA)
		e.wantStored(b)
		e.wantStored(c)
		if got, _ := e.list(gitops.Filter{}); !slices.Equal(keys(got), []string{"g/a", "g/b", "g/c"}) {
			t.Errorf("after ImportReplace: %q, want [g/a g/b g/c]", keys(got))
		}
		// ImportReplace records the import, too.
		if e.importServers([]gitops.Server{importedServer("g", "d", T0)}, gitops.ImportFirstStart) {
			t.Error("ImportFirstStart after ImportReplace = true, want false")
		}
	})

	t.Run("ConcurrentFirstStart", func(t *testing.T) {
		e := h.newEnv(t, 0)
		const n = 8
		var wg sync.WaitGroup
		results := make([]bool, n)
		errs := make([]error, n)
		start := make(chan struct{})
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				group := fmt.Sprintf("replica-%d", i)
				<-start
				results[i], errs[i] = e.s.Import(e.ctx, []gitops.Server{
					importedServer(group, "a", T0), importedServer(group, "b", T0),
				}, gitops.ImportFirstStart)
			}()
		}
		close(start)
		wg.Wait()
		winner := -1
		for i := range n {
			if errs[i] != nil {
				t.Errorf("ImportFirstStart %d: %v", i, errs[i])
			}
			if results[i] {
				if winner >= 0 {
					t.Errorf("ImportFirstStart returned true for both %d and %d; want exactly one", winner, i)
				}
				winner = i
			}
		}
		if winner < 0 {
			t.Fatal("no concurrent ImportFirstStart returned true; want exactly one")
		}
		g := fmt.Sprintf("replica-%d", winner)
		if got, _ := e.list(gitops.Filter{}); !slices.Equal(keys(got), []string{g + "/a", g + "/b"}) {
			t.Errorf("after concurrent ImportFirstStart: %q, want only the winner's [%s/a %s/b]", keys(got), g, g)
		}
	})
}
