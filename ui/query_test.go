package ui

import (
	"reflect"
	"strings"
	"testing"

	gitops "github.com/gitops-status/gitops-status"
)

func TestParseFleetQuery(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    fleetQuery
		wantErr string
	}{
		{name: "defaults", in: "",
			want: fleetQuery{Sort: "host", Refresh: 15, Page: 1, PerPage: 500}},
		{name: "every parameter",
			in: "q=+rsyslog+&server_group=a&server_group=b&environment=prod&server_type=nginx&validation_status=FAILED" +
				"&status=out_of_sync&status=Failed&stale=TRUE&sort=-for&refresh=0&page=3&per_page=100",
			want: fleetQuery{Search: "rsyslog", Groups: []string{"a", "b"}, Envs: []string{"prod"}, Types: []string{"nginx"},
				Validations: []gitops.ValidationStatus{"failed"}, Statuses: []gitops.Status{"out_of_sync", "failed"},
				Stale: "true", Sort: "for", Desc: true, Refresh: 0, Page: 3, PerPage: 100}},
		{name: "empty values are ignored, as GET /status ignores them",
			in:   "server_group=&status=&environment=&stale=&sort=&refresh=&page=&per_page=",
			want: fleetQuery{Sort: "host", Refresh: 15, Page: 1, PerPage: 500}},
		{name: "repeated values count once", in: "status=failed&status=FAILED&server_group=a&server_group=a",
			want: fleetQuery{Groups: []string{"a"}, Statuses: []gitops.Status{"failed"}, Sort: "host", Refresh: 15, Page: 1, PerPage: 500}},
		{name: "unknown status", in: "status=drifted", wantErr: `status "drifted" is not one of "synced", "out_of_sync", "failed", "unknown"`},
		{name: "unknown validation", in: "validation_status=ok", wantErr: `validation_status "ok" is not one of`},
		{name: "bad stale", in: "stale=yes", wantErr: `stale "yes" is not one of "true", "false"`},
		{name: "unknown column", in: "sort=-name", wantErr: `sort "-name" is not a column; use one of "host", "status"`},
		{name: "refresh too long", in: "refresh=3601", wantErr: `refresh "3601" is not a number of seconds from 0 (off) to 3600`},
		{name: "refresh not a number", in: "refresh=15s", wantErr: `refresh "15s"`},
		{name: "page zero", in: "page=0", wantErr: `page "0" is not a page number`},
		{name: "too many rows", in: "per_page=10001", wantErr: `per_page "10001" is not a number of rows from 1 to 10000`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseFleetQuery(mustQuery(tt.in), 15)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(gitops.ErrorMessage(err), tt.wantErr) || gitops.ErrorCode(err) != gitops.EINVALID {
					t.Fatalf("error %v, want EINVALID containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.want.defaultRefresh = 15
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

// TestFleetQueryURL checks that a view's URL says all of its state (it
// reads back as the same view) and nothing that is a default.
func TestFleetQueryURL(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"defaults", "", "/ui"},
		{"defaults spelled out", "sort=host&refresh=15&page=1&per_page=500", "/ui"},
		{"order is fixed", "sort=status&status=failed&q=a%20b&server_group=g", "/ui?q=a+b&server_group=g&status=failed&sort=status"},
		{"everything", "page=2&per_page=100&refresh=5&sort=-files&stale=false&status=synced&validation_status=passed&server_type=t&environment=e&server_group=g&q=x",
			"/ui?q=x&server_group=g&environment=e&server_type=t&validation_status=passed&status=synced&stale=false&sort=-files&refresh=5&per_page=100&page=2"},
		{"values are escaped", "q=%26%3D%3F%23", "/ui?q=%26%3D%3F%23"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, err := parseFleetQuery(mustQuery(tt.in), 15)
			if err != nil {
				t.Fatal(err)
			}
			if got := q.URL(); got != tt.want {
				t.Fatalf("URL() = %q, want %q", got, tt.want)
			}
			_, raw, _ := strings.Cut(q.URL(), "?")
			again, err := parseFleetQuery(mustQuery(raw), 15)
			if err != nil || !reflect.DeepEqual(again, q) {
				t.Fatalf("the URL reads back as %+v (%v), want %+v", again, err, q)
			}
		})
	}
}

func TestFleetQueryLinks(t *testing.T) {
	q, err := parseFleetQuery(mustQuery("status=failed&environment=prod&sort=for&page=4&per_page=100"), 15)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, got, want string
	}{
		{"a count adds its status", q.withStatus(gitops.StatusOutOfSync), "/ui?environment=prod&status=failed&status=out_of_sync&sort=for&per_page=100"},
		{"an active count removes it", q.withStatus(gitops.StatusFailed), "/ui?environment=prod&sort=for&per_page=100"},
		{"all clears the status filter", q.withStatus(""), "/ui?environment=prod&sort=for&per_page=100"},
		{"stale toggles on", q.withStaleToggled(), "/ui?environment=prod&status=failed&stale=true&sort=for&per_page=100"},
		{"behind toggles on", q.withBehindToggled(), "/ui?environment=prod&status=failed&behind=true&sort=for&per_page=100"},
		{"the sorted column reverses", q.withSort("for"), "/ui?environment=prod&status=failed&sort=-for&per_page=100"},
		{"another column sorts ascending", q.withSort("files"), "/ui?environment=prod&status=failed&sort=files&per_page=100"},
		{"a group link narrows to it", q.withGroup("g"), "/ui?server_group=g&environment=prod&status=failed&sort=for&per_page=100"},
		{"a page keeps the view", q.withPage(5), "/ui?environment=prod&status=failed&sort=for&per_page=100&page=5"},
		{"clear keeps sort and page size", q.ClearURL(), "/ui?sort=for&per_page=100"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Fatalf("got %q, want %q", tt.got, tt.want)
			}
		})
	}
	if q.Page != 4 || !reflect.DeepEqual(q.Statuses, []gitops.Status{"failed"}) {
		t.Fatalf("making links changed the query: %+v", q)
	}
	on, err := parseFleetQuery(mustQuery("stale=true&behind=true"), 15)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := on.withStaleToggled(), "/ui?behind=true"; got != want {
		t.Errorf("stale toggled off: %q, want %q", got, want)
	}
	if got, want := on.withBehindToggled(), "/ui?stale=true"; got != want {
		t.Errorf("behind toggled off: %q, want %q", got, want)
	}
}
