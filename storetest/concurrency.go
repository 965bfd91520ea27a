package storetest

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	gitops "github.com/gitops-status/gitops-status"
)

const (
	workers = 16
	perWork = 50
)

// stormUpdate is update i of worker w: pipelines and crons alternate. Each
// pipeline has its own commit, and its branch and labels name the commit,
// so a record mixing two pipelines' fields shows.
func stormUpdate(group, host string, w, i int) gitops.Update {
	if (w+i)%2 == 0 {
		commit := sha(w*1000 + i + 1)
		u := pipeline(group, host, gitops.StatusSynced, commit)
		u.Branch = "b-" + commit
		u.Labels = map[string]string{"commit": commit}
		if i%3 == 0 {
			u.ValidationStatus = gitops.ValidationFailed
			u.Status = gitops.StatusFailed
		}
		return u
	}
	st := gitops.StatusSynced
	files := []string{}
	if i%4 == 1 {
		st, files = gitops.StatusOutOfSync, []string{fmt.Sprintf("drift-%d.conf", i%3)}
	}
	return cron(group, host, st, files...)
}

type applied struct {
	u gitops.Update
	o gitops.Outcome
}

// storm runs workers×perWork updates concurrently; hostOf picks the server
// of each worker. It returns every outcome.
func storm(t *testing.T, s gitops.Store, group string, hostOf func(w int) string) []applied {
	t.Helper()
	var (
		mu   sync.Mutex
		out  []applied
		wg   sync.WaitGroup
		errs = make(chan error, workers*perWork)
	)
	start := make(chan struct{})
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for i := range perWork {
				u := stormUpdate(group, hostOf(w), w, i)
				o, err := s.Apply(context.Background(), u)
				if err != nil {
					errs <- fmt.Errorf("worker %d update %d: %w", w, i, err)
					continue
				}
				mu.Lock()
				out = append(out, applied{u, o})
				mu.Unlock()
			}
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	return out
}

// testConcurrency checks that concurrent pipeline and cron updates never
// lose a field: replayed in the order their times say they were applied,
// every outcome must have seen the outcome before it.
func (h *harness) testConcurrency(t *testing.T) {
	t.Run("SameServer", func(t *testing.T) {
		c := NewClock(T0, time.Microsecond) // every reading is a new instant
		s := h.open(t, gitops.StoreOptions{Now: c.Now})
		out := storm(t, s, "g", func(int) string { return "h" })
		if t.Failed() {
			return
		}
		for _, a := range out {
			if !a.o.Applied {
				t.Fatalf("update of %s not applied: %q", a.u.Key(), a.o.Warnings)
			}
		}
		sort.Slice(out, func(i, j int) bool { return out[i].o.Server.Timestamp.Before(out[j].o.Server.Timestamp) })

		var lastPipe, lastCron *gitops.Server
		var prev *gitops.Server
		events, failures := 0, 0
		errorf := func(format string, args ...any) {
			t.Helper()
			if failures++; failures > 5 {
				t.Fatalf("more than 5 lost or mixed fields; stopping")
			}
			t.Errorf(format, args...)
		}
		for i := range out {
			a := &out[i]
			got := &a.o.Server
			if i > 0 && !got.Timestamp.After(prev.Timestamp) {
				t.Fatalf("two updates have the same timestamp %s; the store must read its clock once per update while holding the server", show(got.Timestamp))
			}
			if got.Labels["commit"] != got.CommitSHA || (got.CommitSHA != "" && got.Branch != "b-"+got.CommitSHA) {
				errorf("update %d: record mixes pipelines: commit %s, branch %s, labels %v", i, got.CommitSHA, got.Branch, got.Labels)
			}
			if _, isPipe := a.u.(*gitops.PipelineUpdate); isPipe {
				if want := lastCron; want != nil && (!got.LastCronCheck.Equal(want.LastCronCheck) || got.DriftStatus != want.DriftStatus) {
					errorf("update %d (pipeline) lost the previous cron's fields: last_cron_check %s drift %q, want %s %q",
						i, show(got.LastCronCheck), got.DriftStatus, show(want.LastCronCheck), want.DriftStatus)
				}
				lastPipe = got
			} else {
				if want := lastPipe; want != nil && (!got.LastPipelineRun.Equal(want.LastPipelineRun) || got.CommitSHA != want.CommitSHA ||
					got.ValidationStatus != want.ValidationStatus || got.PipelineStatus != want.PipelineStatus) {
					errorf("update %d (cron) lost the previous pipeline's fields: commit %s run %s, want %s %s",
						i, got.CommitSHA, show(got.LastPipelineRun), want.CommitSHA, show(want.LastPipelineRun))
				}
				lastCron = got
			}
			if a.o.Event != nil {
				events++
				if prev != nil && a.o.Event.PreviousStatus != prev.Status {
					errorf("update %d: event's previous_status %q, but the update before it left %q", i, a.o.Event.PreviousStatus, prev.Status)
				}
			}
			if (i == 0) != a.o.Created {
				errorf("update %d: Created = %v", i, a.o.Created)
			}
			prev = got
		}
		final, err := s.Get(context.Background(), gitops.Key{ServerGroup: "g", Host: "h"})
		if err != nil {
			t.Fatal(err)
		}
		if d := diffServer(final, *prev); d != "" {
			t.Errorf("final record differs from the last update's outcome:\n%s", d)
		}
		if final.CommitSHA != lastPipe.CommitSHA || !final.LastCronCheck.Equal(lastCron.LastCronCheck) {
			t.Errorf("final record: commit %s, last_cron_check %s; want the last pipeline's %s and the last cron's %s",
				final.CommitSHA, show(final.LastCronCheck), lastPipe.CommitSHA, show(lastCron.LastCronCheck))
		}
		evs, err := s.Events(context.Background(), gitops.EventFilter{})
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) != events {
			t.Errorf("%d events stored, want %d (one per outcome with an event)", len(evs), events)
		}
	})

	t.Run("DistinctServers", func(t *testing.T) {
		c := NewClock(T0, time.Microsecond)
		s := h.open(t, gitops.StoreOptions{Now: c.Now})
		host := func(w int) string { return fmt.Sprintf("host-%02d", w) }
		out := storm(t, s, "g", host)
		if t.Failed() {
			return
		}
		last := map[string]gitops.Outcome{}
		events := map[string]int{}
		for _, a := range out {
			k := a.u.Key().Host
			if prev, ok := last[k]; !ok || a.o.Server.Timestamp.After(prev.Server.Timestamp) {
				last[k] = a.o
			}
			if a.o.Event != nil {
				events[k]++
			}
		}
		list, n, err := s.List(context.Background(), gitops.Filter{})
		if err != nil {
			t.Fatal(err)
		}
		if n != workers || len(list) != workers {
			t.Fatalf("List after the storm: %d servers (total %d), want %d", len(list), n, workers)
		}
		for i, got := range list {
			if want := host(i); got.Host != want {
				t.Errorf("List[%d] = %s, want g/%s", i, got.Key(), want)
				continue
			}
			if d := diffServer(got, last[got.Host].Server); d != "" {
				t.Errorf("%s differs from its last update's outcome:\n%s", got.Key(), d)
			}
			evs, err := s.Events(context.Background(), gitops.EventFilter{ServerGroup: []string{"g"}, Host: got.Host})
			if err != nil {
				t.Fatal(err)
			}
			if len(evs) != events[got.Host] {
				t.Errorf("%s: %d events stored, want %d", got.Key(), len(evs), events[got.Host])
			}
		}
	})
}
