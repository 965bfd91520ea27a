package storetest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	gitops "github.com/gitops-status/gitops-status"
)

func (h *harness) testEvents(t *testing.T) {
	e := h.newEnv(t, 0)
	// Seven updates at t[1]..t[7]; five of them change something.
	var at [8]time.Time
	var written []gitops.Event // events the outcomes carried, oldest first
	step := func(i int, u gitops.Update, wantEvent bool) {
		t.Helper()
		at[i] = T0.Add(time.Duration(i) * time.Minute)
		e.clock.Set(at[i])
		o := e.apply(u)
		if (o.Event != nil) != wantEvent {
			t.Fatalf("update %d (%s): event = %v, want one: %v", i, u.Key(), o.Event != nil, wantEvent)
		}
		if o.Event != nil {
			written = append(written, *o.Event)
		}
	}
	p1 := pipeline("g1", "h1", gitops.StatusSynced, sha(1))
	p1.ChangedFiles = []string{"a.conf", "b.conf"}
	step(1, p1, true)
	step(2, cron("g1", "h1", gitops.StatusSynced, "b.conf", "a.conf"), false) // same state again
	step(3, cron("g1", "h1", gitops.StatusOutOfSync, "a.conf"), true)
	step(4, pipeline("g2", "h2", gitops.StatusFailed, sha(2)), true)
	step(5, cron("g2", "h2", gitops.StatusFailed, "rsyslog.d/50-remote.conf", "rsyslog.conf", "a/b.conf"), false)
	step(6, pipeline("g1", "h2", gitops.StatusSynced, sha(3)), true)
	step(7, pipeline("g1", "h1", gitops.StatusSynced, sha(4)), true)

	t.Run("AsWritten", func(t *testing.T) {
		got := e.events(gitops.EventFilter{})
		if len(got) != len(written) {
			t.Fatalf("Events() returned %d events, want the %d the outcomes carried", len(got), len(written))
		}
		for i := range got {
			want := written[len(written)-1-i] // newest first
			if d := diffEvent(got[i], want, true); d != "" {
				t.Errorf("event %d (newest first) differs from the outcome's event:\n%s", i, d)
			}
			if i > 0 && got[i].ID >= got[i-1].ID {
				t.Errorf("event ids do not increase with time: %d at %s, %d at %s",
					got[i].ID, show(got[i].Time), got[i-1].ID, show(got[i-1].Time))
			}
		}
		if ev := got[len(got)-1]; ev.PreviousStatus != "" || ev.Source != gitops.SourcePipeline || ev.UpdatedBy != "woodpecker" {
			t.Errorf("creating event: previous_status %q, source %q, updated_by %q; want \"\", pipeline, woodpecker",
				ev.PreviousStatus, ev.Source, ev.UpdatedBy)
		}
	})

	// SPEC §3: every event lists what made it, in the order created,
	// status, commit_sha, validation_status, changed_files, and a store
	// keeps the list as it was written.
	t.Run("Changes", func(t *testing.T) {
		want := []string{ // newest first
			"status,commit_sha,changed_files", // 7: g1/h1 synced again, new commit, the pipeline's files
			"created",                         // 6
			"created",                         // 4
			"status,changed_files",            // 3: drifted, one file
			"created",                         // 1
		}
		got := e.events(gitops.EventFilter{})
		if len(got) != len(want) {
			t.Fatalf("Events() returned %d events, want %d", len(got), len(want))
		}
		for i, ev := range got {
			if ev.Changes == nil {
				t.Errorf("event %d (%s/%s): changes is nil, want a list", ev.ID, ev.ServerGroup, ev.Host)
			}
			var names []string
			for _, c := range ev.Changes {
				names = append(names, string(c))
			}
			if g := strings.Join(names, ","); g != want[i] {
				t.Errorf("event %d (%s/%s at %s): changes %q, want %q", ev.ID, ev.ServerGroup, ev.Host, show(ev.Time), g, want[i])
			}
		}
	})

	tests := []struct {
		name string
		f    gitops.EventFilter
		want []int // indexes into at, newest first
	}{
		{"All", gitops.EventFilter{}, []int{7, 6, 4, 3, 1}},
		{"Group", gitops.EventFilter{ServerGroup: []string{"g1"}}, []int{7, 6, 3, 1}},
		{"GroupsOr", gitops.EventFilter{ServerGroup: []string{"g2", "g1"}}, []int{7, 6, 4, 3, 1}},
		{"Host", gitops.EventFilter{Host: "h2"}, []int{6, 4}},
		{"GroupAndHost", gitops.EventFilter{ServerGroup: []string{"g1"}, Host: "h1"}, []int{7, 3, 1}},
		{"Status", gitops.EventFilter{Status: []gitops.Status{gitops.StatusOutOfSync}}, []int{3}},
		{"StatusesOr", gitops.EventFilter{Status: []gitops.Status{gitops.StatusFailed, gitops.StatusOutOfSync}}, []int{4, 3}},
		{"SinceInclusive", gitops.EventFilter{Since: at[4]}, []int{7, 6, 4}},
		{"UntilInclusive", gitops.EventFilter{Until: at[4]}, []int{4, 3, 1}},
		{"SinceUntil", gitops.EventFilter{Since: at[3], Until: at[6]}, []int{6, 4, 3}},
		{"BetweenEvents", gitops.EventFilter{Since: at[4].Add(time.Microsecond), Until: at[6].Add(-time.Microsecond)}, nil},
		{"Limit", gitops.EventFilter{Limit: 2}, []int{7, 6}},
		{"AllFilters", gitops.EventFilter{ServerGroup: []string{"g1"}, Host: "h1", Status: []gitops.Status{gitops.StatusSynced},
			Since: at[1], Until: at[7], Limit: 1}, []int{7}},
		{"NoMatch", gitops.EventFilter{ServerGroup: []string{"G1"}}, nil},
	}
	for _, tt := range tests {
		t.Run("Filter/"+tt.name, func(t *testing.T) {
			got := e.events(tt.f)
			if g, w := eventTimes(got), timesAt(at[:], tt.want); g != w {
				t.Errorf("Events(%+v) returned events at\n  %s\nwant\n  %s", tt.f, g, w)
			}
		})
	}

	t.Run("Prune", func(t *testing.T) {
		// The zero time (serve's call when retention is off) prunes no event.
		if n, err := e.s.PruneEvents(e.ctx, time.Time{}); err != nil || n != 0 {
			t.Fatalf("PruneEvents(zero time) = %d, %v; want 0, nil", n, err)
		}
		n, err := e.s.PruneEvents(e.ctx, at[4])
		if err != nil {
			t.Fatal(err)
		}
		if n != 2 {
			t.Errorf("PruneEvents(before the 3rd event) = %d, want 2", n)
		}
		if g, w := eventTimes(e.events(gitops.EventFilter{})), timesAt(at[:], []int{7, 6, 4}); g != w {
			t.Errorf("after pruning, events at\n  %s\nwant\n  %s", g, w)
		}
		if n, err := e.s.PruneEvents(e.ctx, at[4]); err != nil || n != 0 {
			t.Errorf("pruning again = %d, %v; want 0, nil", n, err)
		}
		// Pruning keeps the servers.
		if _, n := e.list(gitops.Filter{}); n != 3 {
			t.Errorf("after pruning, %d servers, want 3", n)
		}
	})
}

func eventTimes(evs []gitops.Event) string {
	s := ""
	for _, ev := range evs {
		s += fmt.Sprintf("%s/%s@%s ", ev.ServerGroup, ev.Host, ev.Time.UTC().Format("15:04:05.000000"))
	}
	return s
}

func timesAt(at []time.Time, idx []int) string {
	hosts := map[int]string{1: "g1/h1", 3: "g1/h1", 4: "g2/h2", 6: "g1/h2", 7: "g1/h1"}
	s := ""
	for _, i := range idx {
		s += fmt.Sprintf("%s@%s ", hosts[i], at[i].Format("15:04:05.000000"))
	}
	return s
}
