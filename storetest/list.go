package storetest

import (
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	gitops "github.com/gitops-status/gitops-status"
)

func (h *harness) testList(t *testing.T) {
	t.Run("ByteOrder", func(t *testing.T) {
		e := h.newEnv(t, 0)
		// Byte order, not a locale's: upper case before lower case,
		// '-' < '.' < digits < letters < '_' ... and "rsyslog-10" before "rsyslog-9".
		groups := []string{"a", "B", "rsyslog-9", "rsyslog-10", "a.b", "a-b", "a_b", "b", "A", "0x", "Z9"}
		hosts := []string{"h-9", "h-10", "H1", "h.1"}
		var want []string
		for _, g := range groups {
			for _, hst := range hosts {
				e.apply(pipeline(g, hst, gitops.StatusSynced, sha(1)))
				want = append(want, g+"/"+hst)
			}
		}
		sort.Slice(want, func(i, j int) bool {
			gi, hi, _ := strings.Cut(want[i], "/")
			gj, hj, _ := strings.Cut(want[j], "/")
			if gi != gj {
				return gi < gj
			}
			return hi < hj
		})
		got, n := e.list(gitops.Filter{})
		if !slices.Equal(keys(got), want) {
			t.Errorf("List order:\n  got  %q\n  want %q", keys(got), want)
		}
		if n != len(want) {
			t.Errorf("List total = %d, want %d", n, len(want))
		}
		// Identifiers are case-sensitive: "B" and "b" are two groups.
		got, _ = e.list(gitops.Filter{ServerGroup: []string{"B"}, Host: []string{"H1"}})
		if !slices.Equal(keys(got), []string{"B/H1"}) {
			t.Errorf("List(group B, host H1) = %q, want [B/H1]", keys(got))
		}
	})

	e := h.newEnv(t, 0)
	for _, s := range []struct {
		group, host, typ, env string
		st                    gitops.Status
		vs                    gitops.ValidationStatus
	}{
		{"g1", "h1", "rsyslog", "prod", gitops.StatusSynced, gitops.ValidationPassed},
		{"g1", "h2", "rsyslog", "staging", gitops.StatusOutOfSync, gitops.ValidationFailed},
		{"g2", "h1", "nginx", "prod", gitops.StatusFailed, gitops.ValidationSkipped},
		{"g2", "h3", "splunk", "dev", gitops.StatusUnknown, gitops.ValidationUnknown},
		{"g3", "h1", "nginx", "prod", gitops.StatusSynced, gitops.ValidationPassed},
	} {
		u := pipeline(s.group, s.host, s.st, sha(1))
		u.ServerType, u.Environment, u.ValidationStatus = s.typ, s.env, s.vs
		e.apply(u)
	}
	all := []string{"g1/h1", "g1/h2", "g2/h1", "g2/h3", "g3/h1"}
	tests := []struct {
		name string
		f    gitops.Filter
		want []string
	}{
		{"None", gitops.Filter{}, all},
		{"Group", gitops.Filter{ServerGroup: []string{"g1"}}, []string{"g1/h1", "g1/h2"}},
		{"GroupsOr", gitops.Filter{ServerGroup: []string{"g3", "g1"}}, []string{"g1/h1", "g1/h2", "g3/h1"}},
		{"GroupCaseSensitive", gitops.Filter{ServerGroup: []string{"G1"}}, nil},
		{"Host", gitops.Filter{Host: []string{"h1"}}, []string{"g1/h1", "g2/h1", "g3/h1"}},
		{"HostsOr", gitops.Filter{Host: []string{"h2", "h3"}}, []string{"g1/h2", "g2/h3"}},
		{"ServerType", gitops.Filter{ServerType: []string{"nginx"}}, []string{"g2/h1", "g3/h1"}},
		{"ServerTypesOr", gitops.Filter{ServerType: []string{"nginx", "splunk"}}, []string{"g2/h1", "g2/h3", "g3/h1"}},
		{"Environment", gitops.Filter{Environment: []string{"staging"}}, []string{"g1/h2"}},
		{"Status", gitops.Filter{Status: []gitops.Status{gitops.StatusSynced}}, []string{"g1/h1", "g3/h1"}},
		{"StatusesOr", gitops.Filter{Status: []gitops.Status{gitops.StatusFailed, gitops.StatusOutOfSync}}, []string{"g1/h2", "g2/h1"}},
		{"ValidationStatusesOr", gitops.Filter{ValidationStatus: []gitops.ValidationStatus{gitops.ValidationSkipped, gitops.ValidationFailed}}, []string{"g1/h2", "g2/h1"}},
		{"AndAcrossFields", gitops.Filter{Environment: []string{"prod"}, Status: []gitops.Status{gitops.StatusSynced}}, []string{"g1/h1", "g3/h1"}},
		{"AndOr", gitops.Filter{ServerGroup: []string{"g1", "g2"}, ServerType: []string{"nginx", "rsyslog"}, Environment: []string{"prod"}}, []string{"g1/h1", "g2/h1"}},
		{"GroupAndHost", gitops.Filter{ServerGroup: []string{"g2"}, Host: []string{"h3"}}, []string{"g2/h3"}},
		{"NoMatch", gitops.Filter{ServerGroup: []string{"g2"}, Environment: []string{"staging"}}, nil},
		{"StaleFalseWithThresholdOff", gitops.Filter{Stale: boolptr(false)}, all},
		{"StaleTrueWithThresholdOff", gitops.Filter{Stale: boolptr(true)}, nil},
	}
	for _, tt := range tests {
		t.Run("Filter/"+tt.name, func(t *testing.T) {
			got, n := e.list(tt.f)
			if !slices.Equal(keys(got), tt.want) {
				t.Errorf("List(%+v) = %q, want %q", tt.f, keys(got), tt.want)
			}
			if n != len(tt.want) {
				t.Errorf("List(%+v) total = %d, want %d", tt.f, n, len(tt.want))
			}
		})
	}

	paging := []struct {
		name  string
		f     gitops.Filter
		want  []string
		total int
	}{
		{"Limit", gitops.Filter{Limit: 2}, all[:2], 5},
		{"LimitOffset", gitops.Filter{Limit: 2, Offset: 2}, all[2:4], 5},
		{"LastPage", gitops.Filter{Limit: 2, Offset: 4}, all[4:], 5},
		{"OffsetOnly", gitops.Filter{Offset: 3}, all[3:], 5},
		{"PastTheEnd", gitops.Filter{Limit: 2, Offset: 10}, nil, 5},
		{"LimitAboveTotal", gitops.Filter{Limit: 100}, all, 5},
		{"FilteredAndPaged", gitops.Filter{Environment: []string{"prod"}, Limit: 1, Offset: 1}, []string{"g2/h1"}, 3},
	}
	for _, tt := range paging {
		t.Run("Paging/"+tt.name, func(t *testing.T) {
			got, n := e.list(tt.f)
			if !slices.Equal(keys(got), tt.want) {
				t.Errorf("List(%+v) = %q, want %q", tt.f, keys(got), tt.want)
			}
			if n != tt.total {
				t.Errorf("List(%+v) total = %d, want %d (matches before paging)", tt.f, n, tt.total)
			}
		})
	}
}

// testStale checks the computed stale flag on every read, and that the
// stale filter agrees with it, for a global threshold on and off.
func (h *harness) testStale(t *testing.T) {
	now := T0.Add(10 * time.Hour)
	type report struct {
		pipeline, cron time.Duration // how long before now; 0 = none
		staleAfter     string        // pipeline's stale_after
		cronStaleAfter *string
	}
	servers := []struct {
		host string
		r    report
	}{
		{"old", report{pipeline: 2 * time.Hour}},
		{"fresh", report{pipeline: 30 * time.Minute}},
		{"at-threshold", report{pipeline: time.Hour}},
		{"just-past", report{pipeline: time.Hour + time.Microsecond}},
		{"never", report{pipeline: 100 * time.Hour, staleAfter: "0s"}},
		{"own-30m", report{pipeline: 45 * time.Minute, staleAfter: "30m"}},
		{"own-3h", report{pipeline: 2 * time.Hour, staleAfter: "3h"}},
		{"cron-newer", report{pipeline: 5 * time.Hour, cron: 10 * time.Minute}},
		{"cron-keeps-own", report{pipeline: 50 * time.Minute, staleAfter: "10m", cron: 40 * time.Minute}},
		{"cron-sets-own", report{pipeline: 20 * time.Minute, cron: 15 * time.Minute, cronStaleAfter: strptr("5m")}},
	}
	tests := []struct {
		name      string
		global    time.Duration
		wantStale []string
	}{
		{"GlobalOn", time.Hour, []string{"cron-keeps-own", "cron-sets-own", "just-past", "never-reported", "old", "own-30m"}},
		// A server's own threshold applies also when the global one is off.
		{"GlobalOff", 0, []string{"cron-keeps-own", "cron-sets-own", "own-30m"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := h.newEnv(t, tt.global)
			for _, s := range servers {
				if s.r.pipeline != 0 {
					e.clock.Set(now.Add(-s.r.pipeline))
					u := pipeline("g", s.host, gitops.StatusSynced, sha(1))
					u.StaleAfter = s.r.staleAfter
					e.apply(u)
				}
				if s.r.cron != 0 {
					e.clock.Set(now.Add(-s.r.cron))
					u := cron("g", s.host, gitops.StatusSynced)
					u.StaleAfter = s.r.cronStaleAfter
					e.apply(u)
				}
			}
			// A server that never reported (only an import can make one)
			// is stale as soon as a threshold applies.
			e.importServers([]gitops.Server{{ServerGroup: "g", Host: "never-reported", Status: gitops.StatusUnknown,
				ValidationStatus: gitops.ValidationUnknown, Timestamp: T0, StatusSince: T0, Imported: true}}, gitops.ImportReplace)
			e.clock.Set(now)

			isStale := map[string]bool{}
			for _, host := range tt.wantStale {
				isStale[host] = true
			}
			all, _ := e.list(gitops.Filter{})
			var wantFresh []string
			for _, s := range all {
				if s.Stale != isStale[s.Host] {
					t.Errorf("List: %s has stale %v, want %v", s.Key(), s.Stale, isStale[s.Host])
				}
				if g := e.get("g", s.Host); g.Stale != isStale[s.Host] {
					t.Errorf("Get: %s has stale %v, want %v", s.Key(), g.Stale, isStale[s.Host])
				}
				if !isStale[s.Host] {
					wantFresh = append(wantFresh, s.Host)
				}
			}
			for _, c := range []struct {
				stale bool
				want  []string
			}{{true, tt.wantStale}, {false, wantFresh}} {
				got, n := e.list(gitops.Filter{Stale: boolptr(c.stale)})
				var hosts []string
				for _, s := range got {
					hosts = append(hosts, s.Host)
					if s.Stale != c.stale {
						t.Errorf("List(stale=%v) returned %s with stale %v", c.stale, s.Key(), s.Stale)
					}
				}
				if !slices.Equal(hosts, c.want) || n != len(c.want) {
					t.Errorf("List(stale=%v) = %q (total %d), want %q", c.stale, hosts, n, c.want)
				}
			}
			if s, err := e.s.LegacyLatest(e.ctx); err != nil || s.Stale != isStale["never-reported"] {
				t.Errorf("LegacyLatest = %s with stale %v, %v; want g/never-reported with stale %v", s.Key(), s.Stale, err, isStale["never-reported"])
			}
			got, n := e.list(gitops.Filter{Stale: boolptr(false), Limit: 1, Offset: 1})
			if len(got) != 1 || got[0].Host != wantFresh[1] || n != len(wantFresh) {
				t.Errorf("List(stale=false, limit 1, offset 1) = %q (total %d), want [g/%s] (total %d)", keys(got), n, wantFresh[1], len(wantFresh))
			}

			// Apply's outcome carries stale too: a held-back update leaves
			// a stale server stale, an applied one makes it fresh.
			late := pipeline("g", "own-30m", gitops.StatusSynced, sha(2))
			late.ReportedAt = now.Add(-48 * time.Hour)
			prev := pipeline("g", "own-30m", gitops.StatusSynced, sha(1))
			prev.StaleAfter, prev.ReportedAt = "30m", now.Add(-24*time.Hour)
			e.clock.Set(now.Add(-45 * time.Minute))
			e.apply(prev)
			e.clock.Set(now)
			if o := e.apply(late); o.Applied || !o.Server.Stale {
				t.Errorf("held-back update of a stale server: applied %v, stale %v; want false, true", o.Applied, o.Server.Stale)
			}
			if o := e.apply(cron("g", "own-30m", gitops.StatusSynced)); !o.Applied || o.Server.Stale {
				t.Errorf("cron update of a stale server: applied %v, stale %v; want true, false", o.Applied, o.Server.Stale)
			}
		})
	}
}
