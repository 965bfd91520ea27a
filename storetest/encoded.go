package storetest

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	gitops "github.com/gitops-status/gitops-status"
)

// encodedEnv opens a store like newEnv and returns it as a
// gitops.EncodedReader, skipping the test when the store is not one.
func (h *harness) encodedEnv(t *testing.T, staleAfter time.Duration) (*env, gitops.EncodedReader) {
	t.Helper()
	e := h.newEnv(t, staleAfter)
	er, ok := e.s.(gitops.EncodedReader)
	if !ok {
		t.Skip("the store does not implement gitops.EncodedReader")
	}
	return e, er
}

// testEncoded checks that a store's encoded reads answer exactly what Get
// and List answer, encoded: same records, same bytes, same stale at the
// same clock, same filtering, order, paging and total; and that a write is
// in them as soon as it is acknowledged.
func (h *harness) testEncoded(t *testing.T) {
	t.Run("MatchesGetAndList", func(t *testing.T) {
		e, er := h.encodedEnv(t, time.Hour)
		keys := seedFleet(e)
		e.checkEncodedEverywhere(er, keys)

		// Updates, deletes and an import, then the same questions again.
		e.clock.Set(T0.Add(3 * time.Hour))
		u := pipeline("g-a", "h-02", gitops.StatusFailed, sha(50))
		u.ValidationStatus, u.StaleAfter = gitops.ValidationFailed, "20m"
		e.apply(u)
		c := cron("g-b", "h-01", gitops.StatusOutOfSync, "drift <1>.conf", `q"uote`)
		c.StaleAfter = strptr("0s")
		e.apply(c)
		e.apply(cron("rsyslog-10", "web-1", gitops.StatusSynced))                    // back in sync
		e.apply(cron("new-group", "n-1", gitops.StatusOutOfSync, "created-by-cron")) // creates
		for _, k := range []gitops.Key{{ServerGroup: "g-a", Host: "h-01"}, {ServerGroup: "G-c", Host: "h-03"}} {
			if err := e.s.Delete(e.ctx, k); err != nil {
				t.Fatalf("Delete(%s): %v", k, err)
			}
		}
		replaced := importedServer("g-b", "h-02", T0.Add(time.Hour))
		replaced.StaleAfter = ""
		e.importServers([]gitops.Server{replaced, importedServer("g-a", "h-00", T0), importedServer("zz", "last", T0)}, gitops.ImportReplace)
		keys = keysOf(e)
		e.checkEncodedEverywhere(er, keys)
		for _, k := range []gitops.Key{{ServerGroup: "g-a", Host: "h-01"}, {ServerGroup: "G-c", Host: "h-03"}, {ServerGroup: "g-a", Host: "nope"}} {
			_, err := er.GetEncoded(e.ctx, k)
			wantCode(t, fmt.Sprintf("GetEncoded(%s)", k), err, gitops.ENOTFOUND)
		}
	})

	t.Run("GlobalThresholdOff", func(t *testing.T) {
		e, er := h.encodedEnv(t, 0)
		keys := seedFleet(e)
		e.checkEncodedEverywhere(er, keys)
	})

	t.Run("VisibleOnAck", func(t *testing.T) {
		e, er := h.encodedEnv(t, time.Hour)
		const workers, rounds = 8, 30
		var wg sync.WaitGroup
		stop := make(chan struct{})
		// Readers list all the while: every answer is sorted and whole.
		for range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					l, n, err := er.ListEncoded(e.ctx, gitops.Filter{})
					if err != nil {
						t.Errorf("ListEncoded during writes: %v", err)
						return
					}
					if len(l) != n {
						t.Errorf("ListEncoded during writes: %d records, total %d", len(l), n)
						return
					}
				}
			}()
		}
		var writers sync.WaitGroup
		for w := range workers {
			writers.Add(1)
			go func() {
				defer writers.Done()
				host := fmt.Sprintf("host-%02d", w)
				k := gitops.Key{ServerGroup: "g", Host: host}
				for i := range rounds {
					var u gitops.Update = pipeline("g", host, gitops.StatusSynced, sha(w*1000+i))
					if i%3 == 1 {
						u = cron("g", host, gitops.StatusOutOfSync, fmt.Sprintf("f-%d.conf", i))
					}
					o, err := e.s.Apply(e.ctx, u)
					if err != nil {
						t.Errorf("Apply(%s): %v", k, err)
						return
					}
					want := string(o.Server.AppendJSON(nil))
					got, err := er.GetEncoded(e.ctx, k)
					if err != nil || string(got.AppendJSON(nil)) != want {
						t.Errorf("GetEncoded(%s) right after Apply was acknowledged:\n  got  %s (%v)\n  want %s", k, got.AppendJSON(nil), err, want)
						return
					}
					l, n, err := er.ListEncoded(e.ctx, gitops.Filter{ServerGroup: []string{"g"}, Host: []string{host}})
					if err != nil || n != 1 || len(l) != 1 || string(l[0].AppendJSON(nil)) != want {
						t.Errorf("ListEncoded(g/%s) right after Apply was acknowledged: %d records (total %d, %v), want the outcome's", host, len(l), n, err)
						return
					}
					if i == rounds-1 && w%2 == 0 {
						if err := e.s.Delete(e.ctx, k); err != nil {
							t.Errorf("Delete(%s): %v", k, err)
							return
						}
						if _, err := er.GetEncoded(e.ctx, k); gitops.ErrorCode(err) != gitops.ENOTFOUND {
							t.Errorf("GetEncoded(%s) right after Delete = %v, want ENOTFOUND", k, err)
						}
						if _, n, _ := er.ListEncoded(e.ctx, gitops.Filter{Host: []string{host}}); n != 0 {
							t.Errorf("ListEncoded(host %s) right after Delete: total %d, want 0", host, n)
						}
					}
				}
			}()
		}
		writers.Wait()
		close(stop)
		wg.Wait()

		imp := importedServer("g", "imported", T0)
		e.importServers([]gitops.Server{imp}, gitops.ImportReplace)
		got, err := er.GetEncoded(e.ctx, imp.Key())
		want := e.get("g", "imported")
		if err != nil || string(got.AppendJSON(nil)) != string(want.AppendJSON(nil)) {
			t.Errorf("GetEncoded right after Import: %s (%v), want %s", got.AppendJSON(nil), err, want.AppendJSON(nil))
		}
		e.checkEncodedEverywhere(er, keysOf(e))
	})
}

// seedFleet writes a varied fleet at varied times: groups and hosts whose
// byte order differs from a human's, every status and validation status,
// per-server thresholds (including never and an unparsable one, which
// means the global), servers only cron or an import wrote, and strings
// that need escaping. It returns every key.
func seedFleet(e *env) []gitops.Key {
	e.t.Helper()
	types := []string{"rsyslog", "nginx", "splunk"}
	envs := []string{"prod", "staging", "dev", "Prod"}
	thresholds := []string{"", "0s", "30m", "2h", "90s", ""}
	groups := []string{"g-a", "g-b", "G-c", "rsyslog-9", "rsyslog-10"}
	hosts := []string{"h-01", "h-02", "h-03", "H-04", "web-1"}
	i := 0
	for _, g := range groups {
		for _, host := range hosts {
			e.clock.Set(T0.Add(time.Duration(i) * 7 * time.Minute))
			u := pipeline(g, host, gitops.Statuses[i%len(gitops.Statuses)], sha(i))
			u.ServerType, u.Environment = types[i%len(types)], envs[i%len(envs)]
			u.ValidationStatus = gitops.ValidationStatuses[(i/2)%len(gitops.ValidationStatuses)]
			u.StaleAfter = thresholds[i%len(thresholds)]
			if i%4 == 0 {
				u.ChangedFiles = []string{"a<b>&c.conf", `back\slash`, "ünï\u2028", "tab\there", ""}
				u.Labels = map[string]string{"owner": `"ops" <team>`, "": "empty key", "dc": "dc\n1"}
				u.ValidationMessage = "line 1\nline 2 \x01"
			}
			if i%5 == 3 {
				u.ChangedFiles, u.Labels = nil, nil
			}
			e.apply(u)
			if i%3 == 0 {
				e.clock.Advance(40 * time.Minute)
				c := cron(g, host, gitops.StatusOutOfSync, "drift.conf")
				if i%6 == 0 {
					c.StaleAfter = strptr("45m")
				}
				e.apply(c)
			}
			i++
		}
	}
	e.clock.Set(T0.Add(5 * time.Hour))
	c := cron("cron-only", "c-1", gitops.StatusSynced)
	c.ServerType, c.Environment = "itnm", "prod"
	e.apply(c)
	l := legacy("legacy", "l-1", gitops.StatusOutOfSync)
	l.LastCheck = T0.Add(4 * time.Hour)
	e.apply(l)
	never := gitops.Server{ServerGroup: "imported", Host: "never-reported", Status: gitops.StatusUnknown,
		ValidationStatus: gitops.ValidationUnknown, Timestamp: T0, StatusSince: T0, Imported: true}
	bogus := importedServer("imported", "bogus-threshold", T0.Add(-2*time.Hour))
	bogus.StaleAfter = "not a duration"
	own := importedServer("imported", "own-threshold", T0)
	own.StaleAfter = "6h"
	e.importServers([]gitops.Server{never, bogus, own}, gitops.ImportReplace)
	return keysOf(e)
}

func keysOf(e *env) []gitops.Key {
	e.t.Helper()
	all, _ := e.list(gitops.Filter{})
	ks := make([]gitops.Key, len(all))
	for i := range all {
		ks[i] = all[i].Key()
	}
	return ks
}

// checkEncodedEverywhere compares encoded and decoded reads of keys and of
// many filters, at clock readings on both sides of every threshold.
func (e *env) checkEncodedEverywhere(er gitops.EncodedReader, keys []gitops.Key) {
	e.t.Helper()
	for _, at := range []time.Duration{0, 20 * time.Minute, time.Hour, 2*time.Hour + 30*time.Minute, 5 * time.Hour,
		6*time.Hour + time.Microsecond, 9 * time.Hour, 1000 * time.Hour} {
		e.clock.Set(T0.Add(at))
		for _, k := range keys {
			e.checkGetEncoded(er, k)
		}
		for _, f := range encodedFilters(keys) {
			e.checkListEncoded(er, f)
		}
		if e.t.Failed() {
			e.t.Fatalf("encoded reads differ at T0+%s; stopping", at)
		}
	}
}

// encodedFilters returns filters over every field, alone and combined,
// paged and not.
func encodedFilters(keys []gitops.Key) []gitops.Filter {
	var groups, hosts []string
	for _, k := range keys {
		if !slices.Contains(groups, k.ServerGroup) {
			groups = append(groups, k.ServerGroup)
		}
		if !slices.Contains(hosts, k.Host) {
			hosts = append(hosts, k.Host)
		}
	}
	t, f := true, false
	fs := []gitops.Filter{
		{},
		{ServerGroup: []string{"G-c", "g-a"}},
		{ServerGroup: []string{"g-a", "g-a"}},
		{ServerGroup: []string{"no-such-group"}},
		{ServerGroup: []string{"g"}}, // a prefix of other groups
		{Host: []string{"h-01", "web-1"}},
		{ServerGroup: []string{"rsyslog-9"}, Host: []string{"H-04"}},
		{ServerType: []string{"nginx"}},
		{ServerType: []string{"nginx", "itnm"}, Environment: []string{"prod"}},
		{Environment: []string{"Prod"}},
		{Environment: []string{"prod", "dev"}, Status: []gitops.Status{gitops.StatusOutOfSync}},
		{ValidationStatus: []gitops.ValidationStatus{gitops.ValidationFailed, gitops.ValidationSkipped}},
		{Stale: &t},
		{Stale: &f},
		{Stale: &t, ServerGroup: []string{"g-a", "g-b", "imported"}},
		{Stale: &f, Status: []gitops.Status{gitops.StatusSynced, gitops.StatusFailed}, Limit: 2, Offset: 1},
		{Stale: &t, Limit: 3},
		{Stale: &t, Offset: 2},
		{ServerGroup: []string{"g-b"}, Limit: 2, Offset: 4},
		{Limit: 1000},
		{Offset: len(keys)},
		{Offset: len(keys) + 5, Limit: 1},
	}
	for _, g := range groups {
		fs = append(fs, gitops.Filter{ServerGroup: []string{g}})
	}
	for _, s := range gitops.Statuses {
		fs = append(fs, gitops.Filter{Status: []gitops.Status{s}}, gitops.Filter{Status: []gitops.Status{s}, Stale: &t})
	}
	for _, v := range gitops.ValidationStatuses {
		fs = append(fs, gitops.Filter{ValidationStatus: []gitops.ValidationStatus{v}})
	}
	for _, limit := range []int{0, 1, 3, 7} {
		for _, offset := range []int{0, 1, 5, len(keys) - 1} {
			fs = append(fs, gitops.Filter{Limit: limit, Offset: offset})
		}
	}
	return fs
}

func (e *env) checkGetEncoded(er gitops.EncodedReader, k gitops.Key) {
	e.t.Helper()
	want := e.get(k.ServerGroup, k.Host)
	got, err := er.GetEncoded(e.ctx, k)
	if err != nil {
		e.t.Errorf("GetEncoded(%s): %v", k, err)
		return
	}
	if got.Stale != want.Stale || got.ChangedFiles != len(want.ChangedFiles) {
		e.t.Errorf("GetEncoded(%s): stale %v, changed files %d; Get says %v, %d", k, got.Stale, got.ChangedFiles, want.Stale, len(want.ChangedFiles))
	}
	if d := diffJSON(got.AppendJSON(nil), want.AppendJSON(nil)); d != "" {
		e.t.Errorf("GetEncoded(%s) is not Get's record encoded: %s", k, d)
	}
}

func (e *env) checkListEncoded(er gitops.EncodedReader, f gitops.Filter) {
	e.t.Helper()
	want, wantN := e.list(f)
	got, n, err := er.ListEncoded(e.ctx, f)
	if err != nil {
		e.t.Errorf("ListEncoded(%s): %v", showFilter(f), err)
		return
	}
	if n != wantN || len(got) != len(want) {
		e.t.Errorf("ListEncoded(%s): %d records, total %d; List: %d, total %d", showFilter(f), len(got), n, len(want), wantN)
		return
	}
	for i := range got {
		if d := diffJSON(got[i].AppendJSON(nil), want[i].AppendJSON(nil)); d != "" {
			e.t.Errorf("ListEncoded(%s)[%d] is not List's %s encoded: %s", showFilter(f), i, want[i].Key(), d)
			return
		}
	}
}

func showFilter(f gitops.Filter) string {
	var parts []string
	add := func(name string, v any, set bool) {
		if set {
			parts = append(parts, fmt.Sprintf("%s=%v", name, v))
		}
	}
	add("group", f.ServerGroup, len(f.ServerGroup) > 0)
	add("host", f.Host, len(f.Host) > 0)
	add("type", f.ServerType, len(f.ServerType) > 0)
	add("env", f.Environment, len(f.Environment) > 0)
	add("status", f.Status, len(f.Status) > 0)
	add("validation", f.ValidationStatus, len(f.ValidationStatus) > 0)
	if f.Stale != nil {
		add("stale", *f.Stale, true)
	}
	add("limit", f.Limit, f.Limit != 0)
	add("offset", f.Offset, f.Offset != 0)
	return "{" + strings.Join(parts, " ") + "}"
}

// diffJSON says where got first differs from want; "" when equal.
func diffJSON(got, want []byte) string {
	if string(got) == string(want) {
		return ""
	}
	i := 0
	for i < len(got) && i < len(want) && got[i] == want[i] {
		i++
	}
	from := max(0, i-40)
	return fmt.Sprintf("at byte %d:\n  got  …%s\n  want …%s", i, got[from:min(len(got), i+40)], want[from:min(len(want), i+40)])
}
