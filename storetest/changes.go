package storetest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	gitops "github.com/gitops-status/gitops-status"
)

// ChangesMigration checks the migration that gave events their changes
// list (SPEC §3): events stored before it get the list derived from the
// server's previous event, and events stored without one afterwards (by an
// older binary during a rolling upgrade) read as gitops.DeriveChanges says.
//
// open opens the store on one database each time it is called (the same
// one); exec runs a statement on that database while no store has it
// open. The statements ChangesMigration runs are plain SQL both backends
// accept: dropping events.changes and the migration's schema_migrations
// row (named *_event_changes.sql) returns the database to before it.
func ChangesMigration(t *testing.T, open func(t *testing.T, opts gitops.StoreOptions) gitops.Store, exec func(t *testing.T, sql string)) {
	clock := NewClock(T0, 0)
	s := open(t, gitops.StoreOptions{Now: clock.Now})
	e := &env{t: t, s: s, clock: clock, ctx: t.Context()}
	step := func(u gitops.Update) {
		t.Helper()
		clock.Advance(time.Minute)
		e.apply(u)
	}
	files := []string{"a.conf", "b.conf", "c.conf"}
	p := func(host string, st gitops.Status, commit string, v gitops.ValidationStatus, files ...string) *gitops.PipelineUpdate {
		u := pipeline("g", host, st, commit)
		u.ValidationStatus, u.ChangedFiles = v, files
		return u
	}
	step(p("a", gitops.StatusSynced, sha(1), gitops.ValidationPassed, files...))      // created
	step(cron("g", "a", gitops.StatusOutOfSync, "x.conf"))                            // status, changed_files
	step(cron("g", "a", gitops.StatusOutOfSync, "x.conf"))                            // no event
	step(p("a", gitops.StatusOutOfSync, sha(2), gitops.ValidationFailed, files...))   // commit, validation, files
	step(cron("g", "a", gitops.StatusSynced, "c.conf", "a.conf", "b.conf", "a.conf")) // status (same set)
	step(p("b", gitops.StatusFailed, sha(1), gitops.ValidationFailed))                // created
	step(p("b", gitops.StatusFailed, sha(3), gitops.ValidationFailed))                // commit only
	cut := clock.Now().Add(time.Second)                                               // before the next event
	step(p("b", gitops.StatusFailed, sha(3), gitops.ValidationPassed))                // validation only
	if err := s.Delete(e.ctx, gitops.Key{ServerGroup: "g", Host: "a"}); err != nil {  // a's events stay
		t.Fatal(err)
	}
	step(cron("g", "a", gitops.StatusSynced)) // created again
	written := changesByID(e.events(gitops.EventFilter{}))
	if got, want := len(written), 8; got != want {
		t.Fatalf("the history wrote %d events, want %d", got, want)
	}
	ids := make([]int64, 0, len(written))
	for _, ev := range e.events(gitops.EventFilter{}) {
		ids = append([]int64{ev.ID}, ids...) // oldest first
	}

	remigrate := func() gitops.Store {
		t.Helper()
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		exec(t, `ALTER TABLE events DROP COLUMN changes`)
		exec(t, `DELETE FROM schema_migrations WHERE name LIKE '%_event_changes.sql'`)
		s = open(t, gitops.StoreOptions{Now: clock.Now})
		e.s = s
		return s
	}

	t.Run("DerivedAsWritten", func(t *testing.T) {
		remigrate()
		got := changesByID(e.events(gitops.EventFilter{}))
		for _, id := range ids {
			if got[id] != written[id] {
				t.Errorf("event %d: derived changes %q, want %q as written", id, got[id], written[id])
			}
		}
	})

	t.Run("PrunedPredecessor", func(t *testing.T) {
		if _, err := s.PruneEvents(e.ctx, cut); err != nil {
			t.Fatal(err)
		}
		remigrate()
		got := changesByID(e.events(gitops.EventFilter{}))
		// b's validation change has no previous event left: only a status
		// change could be told, and there was none.
		want := map[int64]string{ids[6]: "", ids[7]: "created"}
		if len(got) != len(want) {
			t.Fatalf("after pruning: events %v, want %v", got, want)
		}
		for id, w := range want {
			if got[id] != w {
				t.Errorf("event %d: derived changes %q, want %q", id, got[id], w)
			}
		}
	})

	t.Run("WrittenWithoutChanges", func(t *testing.T) {
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		// What a binary older than the migration writes: no changes.
		exec(t, fmt.Sprintf(`UPDATE events SET changes = NULL WHERE id IN (%d, %d)`, ids[6], ids[7]))
		s = open(t, gitops.StoreOptions{Now: clock.Now})
		e.s = s
		got := changesByID(e.events(gitops.EventFilter{}))
		if got[ids[6]] != "" || got[ids[7]] != "created" {
			t.Errorf("events stored without changes read as %q and %q, want \"\" and \"created\"", got[ids[6]], got[ids[7]])
		}
		for _, ev := range e.events(gitops.EventFilter{}) {
			if ev.Changes == nil {
				t.Errorf("event %d: changes is nil, want a list", ev.ID)
			}
		}
	})
}

func changesByID(evs []gitops.Event) map[int64]string {
	out := make(map[int64]string, len(evs))
	for _, ev := range evs {
		names := make([]string, len(ev.Changes))
		for i, c := range ev.Changes {
			names[i] = string(c)
		}
		out[ev.ID] = strings.Join(names, ",")
	}
	return out
}
