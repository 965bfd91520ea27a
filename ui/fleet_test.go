package ui

import (
	"reflect"
	"strings"
	"testing"
	"time"

	gitops "github.com/gitops-status/gitops-status"
)

// smallFleet is six servers in three groups, sorted as Store.List sorts.
func smallFleet() []gitops.Server {
	s := func(g, h string, st gitops.Status, env, typ string, files int, since time.Duration, stale bool) gitops.Server {
		srv := gitops.Server{ServerGroup: g, Host: h, Status: st, Environment: env, ServerType: typ,
			ChangedFiles: make([]string, files), Stale: stale, ValidationStatus: gitops.ValidationPassed}
		if since > 0 {
			srv.StatusSince = t0.Add(-since)
			srv.LastPipelineRun = t0.Add(-since)
		}
		return srv
	}
	return []gitops.Server{
		s("a", "h1", gitops.StatusSynced, "prod", "nginx", 2, time.Hour, false),
		s("a", "h2", gitops.StatusFailed, "prod", "nginx", 0, 3*time.Hour, true),
		s("a", "h3", gitops.StatusOutOfSync, "staging", "rsyslog", 5, 10*time.Minute, false),
		s("b", "h1", gitops.StatusSynced, "staging", "rsyslog", 1, 0, false),
		s("b", "h2", gitops.StatusUnknown, "prod", "nginx", 0, 2*time.Hour, true),
		s("c", "web-01", gitops.StatusOutOfSync, "prod", "nginx", 3, 30*time.Minute, false),
	}
}

// shownGroups writes the groups of a fleet view as "a: h1 h2", with a "+"
// after a group continued from the previous page.
func shownGroups(f fleet) []string {
	var out []string
	for _, g := range f.Groups {
		var hosts []string
		for _, r := range g.Rows {
			hosts = append(hosts, r.Host)
		}
		name := g.Name
		if g.Continued {
			name += "+"
		}
		out = append(out, name+": "+strings.Join(hosts, " "))
	}
	return out
}

func TestBuildFleet(t *testing.T) {
	tests := []struct {
		name   string
		query  string
		groups []string
		// counts: all, failed, out_of_sync, unknown, synced, stale
		counts [6]int
	}{
		{"everything", "",
			[]string{"a: h1 h2 h3", "b: h1 h2", "c: web-01"}, [6]int{6, 1, 2, 1, 2, 2}},
		{"status filters rows, not the status counts", "status=out_of_sync",
			[]string{"a: h3", "c: web-01"}, [6]int{6, 1, 2, 1, 2, 0}},
		{"two statuses are either", "status=out_of_sync&status=failed",
			[]string{"a: h2 h3", "c: web-01"}, [6]int{6, 1, 2, 1, 2, 1}},
		{"environment narrows everything", "environment=prod",
			[]string{"a: h1 h2", "b: h2", "c: web-01"}, [6]int{4, 1, 1, 1, 1, 2}},
		{"stale narrows the status counts", "stale=true",
			[]string{"a: h2", "b: h2"}, [6]int{2, 1, 0, 1, 0, 2}},
		{"group and type", "server_group=a&server_type=nginx",
			[]string{"a: h1 h2"}, [6]int{2, 1, 0, 0, 1, 1}},
		{"search on host in any case", "q=H",
			[]string{"a: h1 h2 h3", "b: h1 h2"}, [6]int{5, 1, 1, 1, 2, 2}},
		{"search matches inside", "q=eb-0",
			[]string{"c: web-01"}, [6]int{1, 0, 1, 0, 0, 0}},
		{"nothing matches", "q=nope&status=failed",
			nil, [6]int{0, 0, 0, 0, 0, 0}},
		{"sort by files within each group", "sort=files",
			[]string{"a: h2 h1 h3", "b: h2 h1", "c: web-01"}, [6]int{6, 1, 2, 1, 2, 2}},
		{"sort by files, descending", "sort=-files",
			[]string{"a: h3 h1 h2", "b: h1 h2", "c: web-01"}, [6]int{6, 1, 2, 1, 2, 2}},
		{"sort by time in status: shortest first, unset last", "sort=for",
			[]string{"a: h3 h1 h2", "b: h2 h1", "c: web-01"}, [6]int{6, 1, 2, 1, 2, 2}},
		{"longest first, unset still last", "sort=-for",
			[]string{"a: h2 h1 h3", "b: h2 h1", "c: web-01"}, [6]int{6, 1, 2, 1, 2, 2}},
		{"sort by status: worst first", "sort=status",
			[]string{"a: h2 h3 h1", "b: h2 h1", "c: web-01"}, [6]int{6, 1, 2, 1, 2, 2}},
		{"host descending", "sort=-host",
			[]string{"a: h3 h2 h1", "b: h2 h1", "c: web-01"}, [6]int{6, 1, 2, 1, 2, 2}},
		{"ties keep host order", "sort=environment",
			[]string{"a: h1 h2 h3", "b: h2 h1", "c: web-01"}, [6]int{6, 1, 2, 1, 2, 2}},
		{"a page continues a group", "per_page=2&page=2",
			[]string{"a+: h3", "b: h1"}, [6]int{6, 1, 2, 1, 2, 2}},
		{"a page past the end shows the last", "per_page=2&page=9",
			[]string{"b+: h2", "c: web-01"}, [6]int{6, 1, 2, 1, 2, 2}},
		{"pages cut the sorted rows", "per_page=2&sort=-files",
			[]string{"a: h3 h1"}, [6]int{6, 1, 2, 1, 2, 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, err := parseFleetQuery(mustQuery(tt.query), 15)
			if err != nil {
				t.Fatal(err)
			}
			f := buildOf(t, smallFleet(), q, t0)
			if got := shownGroups(f); !reflect.DeepEqual(got, tt.groups) {
				t.Errorf("rows %q, want %q", got, tt.groups)
			}
			got := [6]int{f.All.N}
			for i, c := range f.Counts {
				got[i+1] = c.N
			}
			got[5] = f.StaleN
			if got != tt.counts {
				t.Errorf("counts %v, want %v", got, tt.counts)
			}
			if f.Total != 6 {
				t.Errorf("total %d, want 6", f.Total)
			}
		})
	}
}

func TestBuildFleetDetails(t *testing.T) {
	q, _ := parseFleetQuery(mustQuery("per_page=2&page=2&status=synced&status=failed&sort=-files"), 15)
	f := buildOf(t, smallFleet(), q, t0)
	if want := (pager{Page: 2, Pages: 2, From: 3, To: 3,
		FirstHref: "/ui?status=synced&status=failed&sort=-files&per_page=2",
		PrevHref:  "/ui?status=synced&status=failed&sort=-files&per_page=2"}); f.Pager != want {
		t.Errorf("pager %+v\nwant  %+v", f.Pager, want)
	}
	if got, want := f.Groups[0].Summary, "1 server: 1 synced"; got != want {
		t.Errorf("group b's summary %q, want %q", got, want)
	}
	var active []string
	for _, c := range f.Counts {
		if c.Active {
			active = append(active, string(c.Status))
		}
	}
	if want := []string{"failed", "synced"}; !reflect.DeepEqual(active, want) {
		t.Errorf("active counts %q, want %q", active, want)
	}
	if f.All.Active {
		t.Error("all is active while a status filters")
	}
	for _, h := range f.Headers {
		if want := map[bool]string{true: "descending", false: ""}[h.Key == "files"]; h.Sort != want {
			t.Errorf("header %s: aria-sort %q, want %q", h.Key, h.Sort, want)
		}
	}
	if want := []string{"a", "b", "c"}; !reflect.DeepEqual(f.GroupOptions, want) {
		t.Errorf("group options %q, want every group, %q", f.GroupOptions, want)
	}
	if want := []string{"prod", "staging"}; !reflect.DeepEqual(f.EnvOptions, want) {
		t.Errorf("environment options %q, want %q", f.EnvOptions, want)
	}

	all := buildOf(t, smallFleet(), fleetQuery{Sort: "host", Page: 1, PerPage: 500}, t0)
	if got, want := all.Groups[0].Summary, "3 servers: 1 failed, 1 out of sync, 1 synced"; got != want {
		t.Errorf("group a's summary %q, want %q", got, want)
	}
	r := all.Groups[0].Rows[1]
	want := row{Group: "a", Host: "h2", Href: "/ui/a/h2", Status: "failed", StatusWord: "failed", Stale: true,
		For:        timeCell{Text: "3 h", Exact: "2026-04-26 07:30:00 UTC", ISO: "2026-04-26T07:30:00Z"},
		Validation: "passed", Environment: "prod", Type: "nginx",
		Pipeline: timeCell{Text: "3 h ago", Exact: "2026-04-26 07:30:00 UTC", ISO: "2026-04-26T07:30:00Z"},
		Cron:     timeCell{Text: "never"}}
	if r != want {
		t.Errorf("row\n%+v\nwant\n%+v", r, want)
	}
}

// buildOf is buildFleet over servers as a store's view of them, the
// rows taken from the view as the status page takes them.
func buildOf(tb testing.TB, servers []gitops.Server, q fleetQuery, now time.Time) fleet {
	tb.Helper()
	v := gitops.SamplesOf(servers)
	f, err := buildFleet(v, recordOf(v), q, now)
	if err != nil {
		tb.Fatal(err)
	}
	return f
}

// recordOf reads a row's record from v by its place, as the status page
// does.
func recordOf(v gitops.Samples) func(int, gitops.Key) (*gitops.Server, error) {
	return func(i int, _ gitops.Key) (*gitops.Server, error) {
		sv, err := v.Record(i)
		return &sv, err
	}
}

// getterOf reads servers by key, as the status page does from the store
// when its view cannot decode a record.
func getterOf(servers []gitops.Server) func(int, gitops.Key) (*gitops.Server, error) {
	byKey := make(map[gitops.Key]*gitops.Server, len(servers))
	for i := range servers {
		byKey[servers[i].Key()] = &servers[i]
	}
	return func(_ int, k gitops.Key) (*gitops.Server, error) {
		if s := byKey[k]; s != nil {
			return s, nil
		}
		return nil, gitops.Errorf(gitops.ENOTFOUND, "no server %s", k)
	}
}

// TestBuildFleetSkipsDeletedRows: a server deleted between reading the
// view and reading its row from the store (when the view cannot decode
// it) is left out of the page, also when it is the
// first row of the page or of its group, and the rest of its group keeps
// its heading.
func TestBuildFleetSkipsDeletedRows(t *testing.T) {
	servers := smallFleet()
	get := getterOf(servers)
	gone := map[gitops.Key]bool{{ServerGroup: "a", Host: "h1"}: true, {ServerGroup: "b", Host: "h1"}: true}
	without := func(i int, k gitops.Key) (*gitops.Server, error) {
		if gone[k] {
			return nil, gitops.Errorf(gitops.ENOTFOUND, "no server %s", k)
		}
		return get(i, k)
	}
	q, _ := parseFleetQuery(mustQuery(""), 15)
	f, err := buildFleet(gitops.SamplesOf(servers), without, q, t0)
	if err != nil {
		t.Fatal(err)
	}
	full := shownGroups(buildOf(t, servers, q, t0))
	if got, want := shownGroups(f), []string{"a: h2 h3", "b: h2", "c: web-01"}; !reflect.DeepEqual(got, want) {
		t.Errorf("rows %q, want %q (all rows: %q)", got, want, full)
	}
	if f.Shown != len(servers) {
		t.Errorf("shown %d, want the %d the view counted", f.Shown, len(servers))
	}
}
