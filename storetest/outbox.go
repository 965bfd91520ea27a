package storetest

import (
	"slices"
	"testing"
	"time"

	gitops "github.com/gitops-status/gitops-status"
)

// The outbox subtests run for stores that implement gitops.Outbox.

func (h *harness) outboxEnv(t *testing.T, staleAfter time.Duration) (*env, gitops.Outbox) {
	t.Helper()
	e := h.newEnv(t, staleAfter)
	ob, ok := e.s.(gitops.Outbox)
	if !ok {
		t.Skip("the store keeps no outbox")
	}
	return e, ob
}

// expand empties the outbox, routing every notice to hooks, and returns
// the notices in the order it took them.
func expand(e *env, ob gitops.Outbox, hooks ...string) []gitops.Notice {
	e.t.Helper()
	var got []gitops.Notice
	for {
		n, err := ob.ExpandOutbox(e.ctx, 2, func(n gitops.Notice) []string {
			got = append(got, n)
			return hooks
		})
		if err != nil {
			e.t.Fatalf("ExpandOutbox: %v", err)
		}
		if n == 0 {
			return got
		}
	}
}

func (e *env) claim(ob gitops.Outbox, hook string, at time.Time, limit int) []gitops.Delivery {
	e.t.Helper()
	ds, err := ob.ClaimDeliveries(e.ctx, hook, at, time.Minute, limit)
	if err != nil {
		e.t.Fatalf("ClaimDeliveries(%s): %v", hook, err)
	}
	return ds
}

func (e *env) finish(ob gitops.Outbox, id int64, st gitops.DeliveryState, next time.Time) {
	e.t.Helper()
	if err := ob.FinishDelivery(e.ctx, id, st, next, "test"); err != nil {
		e.t.Fatalf("FinishDelivery(%d): %v", id, err)
	}
}

func (h *harness) testOutbox(t *testing.T) {
	t.Run("EntriesOnlyForTransitions", func(t *testing.T) {
		e, ob := h.outboxEnv(t, 0)
		e.apply(pipeline("web", "a", gitops.StatusSynced, sha(1)))    // new and synced: nothing to tell
		e.apply(cron("web", "a", gitops.StatusOutOfSync, "x.conf"))   // out_of_sync
		e.apply(cron("web", "a", gitops.StatusOutOfSync, "x.conf"))   // no event
		e.apply(cron("web", "a", gitops.StatusOutOfSync, "y.conf"))   // files only: an event, no transition
		e.apply(pipeline("web", "a", gitops.StatusFailed, sha(2)))    // failed
		e.apply(pipeline("web", "a", gitops.StatusSynced, sha(3)))    // synced (recovery)
		e.apply(pipeline("web", "b", gitops.StatusOutOfSync, sha(1))) // created out_of_sync
		bad := pipeline("web", "a", gitops.StatusSynced, sha(3))      // validation failed
		bad.ValidationStatus = gitops.ValidationFailed
		e.apply(bad)
		got := expand(e, ob, "hook")
		var sum []string
		for _, n := range got {
			sum = append(sum, n.Event.Host+":"+string(n.Event.PreviousStatus)+">"+string(n.Event.Status))
			if n.Environment != "prod" || n.ServerType != "rsyslog" {
				t.Errorf("notice of event %d: environment %q, server_type %q, want the record's prod, rsyslog", n.Event.ID, n.Environment, n.ServerType)
			}
			if n.StatusSince.IsZero() {
				t.Errorf("notice of event %d has no status_since", n.Event.ID)
			}
		}
		want := []string{"a:synced>out_of_sync", "a:out_of_sync>failed", "a:failed>synced", "b:>out_of_sync", "a:synced>synced"}
		if !slices.Equal(sum, want) {
			t.Fatalf("outbox notices %q, want %q", sum, want)
		}
		evs := e.events(gitops.EventFilter{})
		ids := map[int64]gitops.Event{}
		for _, ev := range evs {
			ids[ev.ID] = ev
		}
		for _, n := range got {
			ev, ok := ids[n.Event.ID]
			if !ok || ev.Status != n.Event.Status || ev.Host != n.Event.Host {
				t.Errorf("notice carries event id %d, which is not the stored event %+v", n.Event.ID, ev)
			}
		}
		if again := expand(e, ob, "hook"); len(again) != 0 {
			t.Errorf("a second expansion took %d entries again", len(again))
		}
	})

	t.Run("DeliveriesInOrderPerServer", func(t *testing.T) {
		e, ob := h.outboxEnv(t, 0)
		e.apply(pipeline("web", "a", gitops.StatusOutOfSync, sha(1)))
		e.apply(pipeline("web", "a", gitops.StatusFailed, sha(1)))
		e.apply(pipeline("web", "b", gitops.StatusFailed, sha(1)))
		e.apply(pipeline("web", "a", gitops.StatusSynced, sha(1)))
		expand(e, ob, "one", "two")
		now := e.clock.Now()
		if p, err := ob.PendingDeliveries(e.ctx); err != nil || p["one"] != 4 || p["two"] != 4 {
			t.Fatalf("PendingDeliveries = %v, %v; want 4 for each webhook", p, err)
		}
		ds := e.claim(ob, "one", now, 10)
		if len(ds) != 2 || ds[0].Notice.Event.Host != "a" || ds[0].Notice.Event.Status != gitops.StatusOutOfSync ||
			ds[1].Notice.Event.Host != "b" {
			t.Fatalf("first claim = %v, want the first of a (out_of_sync) and of b", deliverySummary(ds))
		}
		if ds[0].Key == "" || ds[0].Key == ds[1].Key {
			t.Errorf("keys %q and %q: want distinct event ids", ds[0].Key, ds[1].Key)
		}
		if again := e.claim(ob, "one", now, 10); len(again) != 0 {
			t.Fatalf("claimed leased deliveries again: %v", deliverySummary(again))
		}
		// Another webhook is not held up by the first.
		if other := e.claim(ob, "two", now, 10); len(other) != 2 {
			t.Fatalf("webhook two claimed %v, want 2", deliverySummary(other))
		}
		// a's first fails: a's next waits for it, b goes on.
		e.finish(ob, ds[0].ID, gitops.DeliveryRetry, now.Add(time.Hour))
		e.finish(ob, ds[1].ID, gitops.DeliveryDone, now)
		if got := e.claim(ob, "one", now.Add(2*time.Minute), 10); len(got) != 0 {
			t.Fatalf("claimed %v while a's first waits for its retry", deliverySummary(got))
		}
		retry := e.claim(ob, "one", now.Add(time.Hour), 10)
		if len(retry) != 1 || retry[0].ID != ds[0].ID || retry[0].Attempts != 1 {
			t.Fatalf("retry claim = %v, want a's first again after 1 attempt", deliverySummary(retry))
		}
		e.finish(ob, retry[0].ID, gitops.DeliveryGivenUp, now)
		next := e.claim(ob, "one", now.Add(time.Hour), 10)
		if len(next) != 1 || next[0].Notice.Event.Status != gitops.StatusFailed || next[0].Notice.Event.Host != "a" {
			t.Fatalf("after giving up, claim = %v, want a's failed", deliverySummary(next))
		}
		// A claimer that dies: its lease ends and the delivery is claimed again.
		later := e.claim(ob, "one", now.Add(time.Hour+2*time.Minute), 10)
		if len(later) != 1 || later[0].ID != next[0].ID {
			t.Fatalf("after the lease, claim = %v, want a's failed again", deliverySummary(later))
		}
		if p, err := ob.PendingDeliveries(e.ctx); err != nil || p["one"] != 2 {
			t.Fatalf("PendingDeliveries = %v, %v; want 2 for one (a's failed and synced)", p, err)
		}
	})

	t.Run("ClaimsTakeTheOldestUpToTheLimit", func(t *testing.T) {
		e, ob := h.outboxEnv(t, 0)
		e.apply(pipeline("web", "a", gitops.StatusFailed, sha(1)))
		e.apply(pipeline("web", "b", gitops.StatusFailed, sha(1)))
		e.apply(pipeline("web", "a", gitops.StatusSynced, sha(1)))
		e.apply(pipeline("web", "c", gitops.StatusFailed, sha(1)))
		e.apply(pipeline("web", "d", gitops.StatusFailed, sha(1)))
		expand(e, ob, "one")
		now := e.clock.Now()
		if got := e.claim(ob, "one", now, 2); len(got) != 2 || got[0].Notice.Event.Host != "a" || got[1].Notice.Event.Host != "b" {
			t.Fatalf("claim of 2 = %v; want the two oldest, a's failed and b's", deliverySummary(got))
		}
		// Past the leased ones and a's second, which waits for a's first.
		if got := e.claim(ob, "one", now, 1); len(got) != 1 || got[0].Notice.Event.Host != "c" {
			t.Fatalf("claim of 1 = %v; want c's, the oldest unleased first of its server", deliverySummary(got))
		}
		if got := e.claim(ob, "one", now, 10); len(got) != 1 || got[0].Notice.Event.Host != "d" {
			t.Fatalf("claim of 10 = %v; want d's alone", deliverySummary(got))
		}
	})

	t.Run("Reminders", func(t *testing.T) {
		e, ob := h.outboxEnv(t, 0)
		n := gitops.Notice{Event: gitops.Event{ServerGroup: "web", Host: "a", Status: gitops.StatusFailed}, Reminder: true}
		for i, want := range []bool{true, false} {
			added, err := ob.AddReminder(e.ctx, "one", "reminder-1", n)
			if err != nil || added != want {
				t.Fatalf("AddReminder #%d = %v, %v; want %v", i+1, added, err, want)
			}
		}
		ds := e.claim(ob, "one", e.clock.Now(), 10)
		if len(ds) != 1 || ds[0].Key != "reminder-1" || !ds[0].Notice.Reminder {
			t.Fatalf("claim = %v, want the reminder", deliverySummary(ds))
		}
		// Sent, it keeps its key until pruned.
		e.finish(ob, ds[0].ID, gitops.DeliveryDone, e.clock.Now())
		if added, err := ob.AddReminder(e.ctx, "one", "reminder-1", n); err != nil || added {
			t.Fatalf("AddReminder after it was sent = %v, %v; want false", added, err)
		}
		if pruned, err := ob.PruneDeliveries(e.ctx, e.clock.Now()); err != nil || pruned != 0 {
			t.Fatalf("PruneDeliveries(now) = %d, %v; want 0 (created now, not before)", pruned, err)
		}
		if pruned, err := ob.PruneDeliveries(e.ctx, e.clock.Now().Add(time.Second)); err != nil || pruned != 1 {
			t.Fatalf("PruneDeliveries(later) = %d, %v; want 1", pruned, err)
		}
		if added, err := ob.AddReminder(e.ctx, "one", "reminder-1", n); err != nil || !added {
			t.Fatalf("AddReminder after pruning = %v, %v; want true", added, err)
		}
	})

	t.Run("StaleSweep", func(t *testing.T) {
		e, ob := h.outboxEnv(t, time.Hour)
		e.apply(pipeline("web", "a", gitops.StatusSynced, sha(1)))
		e.apply(pipeline("web", "b", gitops.StatusSynced, sha(1)))
		sweep := func() []gitops.Event {
			t.Helper()
			evs, err := ob.SweepStale(e.ctx)
			if err != nil {
				t.Fatalf("SweepStale: %v", err)
			}
			return evs
		}
		if evs := sweep(); len(evs) != 0 {
			t.Fatalf("sweep of fresh servers wrote %d events", len(evs))
		}
		before := e.get("web", "a")
		e.clock.Advance(30 * time.Minute)
		e.apply(cron("web", "b", gitops.StatusSynced, "rsyslog.d/50-remote.conf", "rsyslog.conf", "a/b.conf"))
		e.clock.Advance(45 * time.Minute) // a: 75m old, b: 45m
		evs := sweep()
		if len(evs) != 1 || evs[0].Host != "a" || evs[0].Source != gitops.SourceSweep ||
			!slices.Equal(evs[0].Changes, []gitops.Change{gitops.ChangeStale}) || evs[0].Status != gitops.StatusSynced {
			t.Fatalf("sweep wrote %+v, want one stale event of a", evs)
		}
		if again := sweep(); len(again) != 0 {
			t.Fatalf("a second sweep wrote %+v: once per transition", again)
		}
		if after := e.get("web", "a"); !after.Timestamp.Equal(before.Timestamp) || !after.StatusSince.Equal(before.StatusSince) {
			t.Errorf("the sweep changed a's record: timestamp %v → %v", before.Timestamp, after.Timestamp)
		}
		hist := e.events(gitops.EventFilter{ServerGroup: []string{"web"}, Host: "a"})
		if len(hist) == 0 || hist[0].ID != evs[0].ID || hist[0].Source != gitops.SourceSweep {
			t.Fatalf("a's history does not start with the sweep event: %+v", hist)
		}
		// A report that changes nothing makes a fresh again: the sweep says so.
		e.apply(cron("web", "a", gitops.StatusSynced, "rsyslog.d/50-remote.conf", "rsyslog.conf", "a/b.conf"))
		fresh := sweep()
		if len(fresh) != 1 || fresh[0].Host != "a" || !slices.Equal(fresh[0].Changes, []gitops.Change{gitops.ChangeFresh}) {
			t.Fatalf("sweep after a's report wrote %+v, want one fresh event of a", fresh)
		}
		got := expand(e, ob, "hook")
		if len(got) != 2 || got[0].Event.ID != evs[0].ID || got[1].Event.ID != fresh[0].ID {
			t.Fatalf("outbox holds %d notices, want the stale and the fresh events", len(got))
		}
		// A stale server deleted: its mark goes without an event, and the
		// server created again under its key starts fresh, so its next
		// staleness is told again.
		e.clock.Advance(2 * time.Hour) // a and b stale
		if evs := sweep(); len(evs) != 2 {
			t.Fatalf("sweep with a and b stale wrote %+v, want two stale events", evs)
		}
		if err := e.s.Delete(e.ctx, gitops.Key{ServerGroup: "web", Host: "a"}); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		if evs := sweep(); len(evs) != 0 {
			t.Fatalf("sweep after a was deleted wrote %+v, want none", evs)
		}
		e.apply(pipeline("web", "a", gitops.StatusSynced, sha(1)))
		if evs := sweep(); len(evs) != 0 {
			t.Fatalf("sweep of a created again, fresh, wrote %+v", evs)
		}
		e.clock.Advance(2 * time.Hour)
		if evs := sweep(); len(evs) != 1 || evs[0].Host != "a" || !slices.Equal(evs[0].Changes, []gitops.Change{gitops.ChangeStale}) {
			t.Fatalf("sweep of a created again and stale wrote %+v, want a's stale event", evs)
		}
	})

	t.Run("OutboxOff", func(t *testing.T) {
		e, ob := h.outboxEnv(t, time.Hour)
		sw, ok := ob.(gitops.OutboxSwitch)
		if !ok {
			t.Skip("the store always writes its outbox")
		}
		sw.KeepOutbox(false)
		e.apply(pipeline("web", "a", gitops.StatusFailed, sha(1)))  // created failed
		e.apply(cron("web", "a", gitops.StatusOutOfSync, "x.conf")) // failed > out_of_sync
		e.clock.Advance(2 * time.Hour)
		stale, err := ob.SweepStale(e.ctx)
		if err != nil || len(stale) != 1 {
			t.Fatalf("SweepStale with the outbox off: %+v, %v; want a's stale event", stale, err)
		}
		if got := expand(e, ob, "hook"); len(got) != 0 {
			t.Fatalf("the outbox, off, holds %d notices: %+v", len(got), got)
		}
		if evs := e.events(gitops.EventFilter{}); len(evs) != 3 {
			t.Fatalf("with the outbox off %d events were written, want the 3 transitions all the same", len(evs))
		}
		sw.KeepOutbox(true)
		e.apply(pipeline("web", "a", gitops.StatusSynced, sha(2))) // recovery
		got := expand(e, ob, "hook")
		if len(got) != 1 || got[0].Event.Host != "a" || got[0].Event.Status != gitops.StatusSynced {
			t.Fatalf("the outbox, on again, holds %+v; want a's recovery alone", got)
		}
	})
}

func deliverySummary(ds []gitops.Delivery) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d.Webhook+":"+d.Notice.Event.Host+":"+string(d.Notice.Event.Status)+":"+d.Key)
	}
	return out
}
