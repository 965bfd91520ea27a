package storetest

import (
	"fmt"
	"testing"
	"time"

	gitops "github.com/gitops-status/gitops-status"
)

// testSamples checks that a store's ReadSamples hands out, for every
// server, what List says of it: same servers, same order, same values,
// stale at the same clock; and that a write or a deletion is in the very
// next view. Skipped for a store that is no gitops.SampleReader.
func (h *harness) testSamples(t *testing.T) {
	e := h.newEnv(t, time.Hour)
	sr, ok := e.s.(gitops.SampleReader)
	if !ok {
		t.Skip("the store does not implement gitops.SampleReader")
	}
	seedFleet(e)
	e.checkSamples(sr)

	e.clock.Set(T0.Add(3 * time.Hour))
	e.apply(pipeline("g-a", "h-02", gitops.StatusFailed, sha(50)))
	e.apply(cron("new-group", "n-1", gitops.StatusOutOfSync, "created-by-cron"))
	if err := e.s.Delete(e.ctx, gitops.Key{ServerGroup: "g-a", Host: "h-01"}); err != nil {
		t.Fatal(err)
	}
	e.importServers([]gitops.Server{importedServer("zz", "last", T0)}, gitops.ImportReplace)
	e.checkSamples(sr)

	t.Run("VisibleOnAck", func(t *testing.T) {
		for i := range 20 {
			host := fmt.Sprintf("ack-%02d", i%4)
			o := e.apply(cron("ack", host, gitops.Statuses[i%len(gitops.Statuses)], fmt.Sprintf("f%d", i)))
			found := false
			err := sr.ReadSamples(e.ctx, func(v gitops.Samples) error {
				var s gitops.ServerSample
				for j := range v.Len() {
					v.At(j, &s)
					if s.ServerGroup == "ack" && s.Host == host {
						found = s.Status == o.Server.Status && s.LastCronCheck.Equal(o.Server.LastCronCheck)
					}
				}
				return nil
			})
			if err != nil || !found {
				t.Fatalf("ReadSamples right after update %d of ack/%s: found %v (%v), want the update's status and time", i, host, found, err)
			}
		}
		if err := e.s.Delete(e.ctx, gitops.Key{ServerGroup: "ack", Host: "ack-00"}); err != nil {
			t.Fatal(err)
		}
		_ = sr.ReadSamples(e.ctx, func(v gitops.Samples) error {
			var s gitops.ServerSample
			for j := range v.Len() {
				if v.At(j, &s); s.ServerGroup == "ack" && s.Host == "ack-00" {
					t.Errorf("ReadSamples right after Delete still has ack/ack-00")
				}
			}
			return nil
		})
	})

	t.Run("FnError", func(t *testing.T) {
		want := fmt.Errorf("the scrape's client went away")
		if err := sr.ReadSamples(e.ctx, func(gitops.Samples) error { return want }); err != want {
			t.Fatalf("ReadSamples returned %v, want fn's error", err)
		}
	})
}

// checkSamples compares ReadSamples with List at clock readings on both
// sides of every threshold, reading each view twice.
func (e *env) checkSamples(sr gitops.SampleReader) {
	e.t.Helper()
	for _, at := range []time.Duration{0, time.Hour, 2*time.Hour + 30*time.Minute, 6*time.Hour + time.Microsecond, 1000 * time.Hour} {
		e.clock.Set(T0.Add(at))
		all, _ := e.list(gitops.Filter{})
		want := gitops.SamplesOf(all)
		err := sr.ReadSamples(e.ctx, func(got gitops.Samples) error {
			for range 2 {
				if got.Len() != want.Len() {
					return fmt.Errorf("%d samples, List has %d servers", got.Len(), want.Len())
				}
				var g, w gitops.ServerSample
				for i := range got.Len() {
					got.At(i, &g)
					want.At(i, &w)
					if d := diffSample(g, w); d != "" {
						return fmt.Errorf("sample %d (%s/%s) differs from List's record:\n%s", i, w.ServerGroup, w.Host, d)
					}
				}
			}
			return nil
		})
		if err != nil {
			e.t.Fatalf("ReadSamples at T0+%s: %v", at, err)
		}
	}
}

func diffSample(got, want gitops.ServerSample) string {
	d := ""
	if got.LastPipelineRun.Equal(want.LastPipelineRun) && got.LastCronCheck.Equal(want.LastCronCheck) && got.StatusSince.Equal(want.StatusSince) {
		got.LastPipelineRun, got.LastCronCheck, got.StatusSince = want.LastPipelineRun, want.LastCronCheck, want.StatusSince
	}
	if got != want {
		d = fmt.Sprintf("  got  %+v\n  want %+v", got, want)
	}
	return d
}
