package deploy_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	gitops "github.com/gitops-status/gitops-status"
	"github.com/gitops-status/gitops-status/httpapi"
	"github.com/gitops-status/gitops-status/metrics"
	"github.com/gitops-status/gitops-status/sqlite"
	"go.yaml.in/yaml/v3"

	tools "github.com/gitops-status/gitops-status/internal/tooltest"
)

// The datasource types the dashboards use.
const (
	infinityType   = "yesoreyeram-infinity-datasource"
	prometheusType = "prometheus"
)

// provisionedDatasources reads the provisioning file: uid → type.
func provisionedDatasources(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile("grafana/provisioning/datasources/gitops-status.yml")
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		APIVersion  int `yaml:"apiVersion"`
		Datasources []struct {
			Name, UID, Type, URL string
		} `yaml:"datasources"`
	}
	if err := yaml.Unmarshal(b, &f); err != nil {
		t.Fatalf("datasource provisioning: %v", err)
	}
	if f.APIVersion != 1 {
		t.Fatalf("datasource provisioning: apiVersion %d, want 1", f.APIVersion)
	}
	out := map[string]string{}
	for _, d := range f.Datasources {
		if d.Name == "" || d.UID == "" || d.Type == "" || d.URL == "" {
			t.Errorf("datasource %+v: name, uid, type and url are all needed", d)
		}
		out[d.UID] = d.Type
	}
	for _, typ := range []string{infinityType, prometheusType} {
		if !slices.Contains(slices.Collect(func(yield func(string) bool) {
			for _, v := range out {
				if !yield(v) {
					return
				}
			}
		}), typ) {
			t.Errorf("no %s datasource is provisioned", typ)
		}
	}
	return out
}

func TestDashboardProvisioning(t *testing.T) {
	b, err := os.ReadFile("grafana/provisioning/dashboards/gitops-status.yml")
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		APIVersion int `yaml:"apiVersion"`
		Providers  []struct {
			Name, Type string
			Options    struct{ Path string }
		}
	}
	if err := yaml.Unmarshal(b, &f); err != nil || f.APIVersion != 1 || len(f.Providers) != 1 ||
		f.Providers[0].Type != "file" || f.Providers[0].Options.Path == "" {
		t.Fatalf("dashboard provisioning: %+v, %v; want apiVersion 1 and one file provider with a path", f, err)
	}
}

// dashboard is what the test reads of a Grafana dashboard JSON.
type dashboard struct {
	file          string
	UID           string                      `json:"uid"`
	Title         string                      `json:"title"`
	SchemaVersion int                         `json:"schemaVersion"`
	Panels        []panel                     `json:"panels"`
	Templating    struct{ List []variable }   `json:"templating"`
	Annotations   struct{ List []annotation } `json:"annotations"`
}

type dsRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type panel struct {
	ID              int              `json:"id"`
	Type            string           `json:"type"`
	Title           string           `json:"title"`
	Datasource      *dsRef           `json:"datasource"`
	Targets         []target         `json:"targets"`
	Panels          []panel          `json:"panels"` // rows
	Transformations []transformation `json:"transformations"`
	FieldConfig     struct {
		Defaults struct {
			NoValue string `json:"noValue"`
		} `json:"defaults"`
	} `json:"fieldConfig"`
}

type transformation struct {
	ID      string         `json:"id"`
	Options map[string]any `json:"options"`
}

// target is an Infinity or a Prometheus query.
type target struct {
	RefID        string   `json:"refId"`
	Datasource   *dsRef   `json:"datasource"`
	Type         string   `json:"type"`
	Source       string   `json:"source"`
	Parser       string   `json:"parser"`
	URL          string   `json:"url"`
	RootSelector string   `json:"root_selector"`
	Columns      []column `json:"columns"`
	Expr         string   `json:"expr"`
}

type column struct {
	Selector string `json:"selector"`
	Text     string `json:"text"`
	Type     string `json:"type"`
}

type variable struct {
	Name       string          `json:"name"`
	Type       string          `json:"type"`
	Datasource *dsRef          `json:"datasource"`
	Query      json.RawMessage `json:"query"`
	IncludeAll bool            `json:"includeAll"`
	Multi      bool            `json:"multi"`
	AllValue   string          `json:"allValue"`
	Options    []struct {
		Text  string `json:"text"`
		Value string `json:"value"`
	} `json:"options"`
}

type annotation struct {
	Name       string `json:"name"`
	Datasource *dsRef `json:"datasource"`
	Target     *target
	Mappings   map[string]struct {
		Source string `json:"source"`
		Value  string `json:"value"`
	} `json:"mappings"`
}

func loadDashboards(t *testing.T) []*dashboard {
	t.Helper()
	files, err := filepath.Glob("grafana/dashboards/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no dashboards in grafana/dashboards: %v", err)
	}
	var out []*dashboard
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		d := &dashboard{file: filepath.Base(f)}
		if err := json.Unmarshal(b, d); err != nil {
			t.Fatalf("%s is not JSON of a dashboard: %v", f, err)
		}
		out = append(out, d)
	}
	return out
}

// allPanels flattens rows.
func allPanels(ps []panel) []panel {
	var out []panel
	for _, p := range ps {
		out = append(out, p)
		out = append(out, allPanels(p.Panels)...)
	}
	return out
}

// TestDashboardsAreGrafanaDashboards checks every dashboard's shape and
// that every datasource it names is one the provisioning file creates.
func TestDashboardsAreGrafanaDashboards(t *testing.T) {
	ds := provisionedDatasources(t)
	uids := map[string]bool{}
	for _, d := range loadDashboards(t) {
		t.Run(d.file, func(t *testing.T) {
			if d.SchemaVersion < 30 || d.Title == "" || d.UID == "" || len(d.Panels) == 0 {
				t.Fatalf("schemaVersion %d, title %q, uid %q, %d panels: not a current Grafana dashboard", d.SchemaVersion, d.Title, d.UID, len(d.Panels))
			}
			if uids[d.UID] {
				t.Errorf("uid %q used by two dashboards", d.UID)
			}
			uids[d.UID] = true
			checkRef := func(where string, r *dsRef) {
				t.Helper()
				if r == nil {
					t.Errorf("%s: no datasource", where)
					return
				}
				if r.UID == "-- Grafana --" && r.Type == "grafana" {
					return
				}
				if typ, ok := ds[r.UID]; !ok || typ != r.Type {
					t.Errorf("%s: datasource %+v is not a provisioned one (%v)", where, *r, ds)
				}
			}
			ids := map[int]bool{}
			for _, p := range allPanels(d.Panels) {
				where := fmt.Sprintf("panel %d %q", p.ID, p.Title)
				if p.ID == 0 || ids[p.ID] {
					t.Errorf("%s: id missing or not unique", where)
				}
				ids[p.ID] = true
				if p.Type == "row" {
					continue
				}
				checkRef(where, p.Datasource)
				if len(p.Targets) == 0 {
					t.Errorf("%s: no query", where)
				}
				for _, tg := range p.Targets {
					checkRef(where+" target "+tg.RefID, tg.Datasource)
				}
				if p.FieldConfig.Defaults.NoValue == "" {
					t.Errorf("%s: no \"No data\" text (fieldConfig.defaults.noValue)", where)
				}
			}
			for _, v := range d.Templating.List {
				if v.Type == "query" {
					checkRef("variable "+v.Name, v.Datasource)
				}
			}
			for _, a := range d.Annotations.List {
				checkRef("annotation "+a.Name, a.Datasource)
			}
		})
	}
}

// seedServer starts the real API on a real SQLite store, with servers in
// every status, groups, environments and types, and events in the last
// hour.
func seedServer(t *testing.T) (*httptest.Server, gitops.Store) {
	t.Helper()
	store, err := sqlite.Open(filepath.Join(t.TempDir(), "status.db"), gitops.StoreOptions{StaleAfter: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	m := metrics.New(metrics.Options{Version: "test"})
	api := httpapi.New(httpapi.Config{Store: store, Metrics: m.Handler(store, 0), ObserveRequest: m.ObserveRequest})
	srv := httptest.NewServer(api.Handler())
	t.Cleanup(srv.Close)
	post := func(path, body string) {
		t.Helper()
		resp, err := http.Post(srv.URL+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != 200 {
			b, _ := io.ReadAll(resp.Body)
			t.Fatalf("POST %s: %d %s", path, resp.StatusCode, b)
		}
	}
	types := []string{"rsyslog", "nginx", "splunk"}
	envs := []string{"prod", "staging"}
	for i := range 12 {
		group := []string{"rsyslog-prod", "web-dev", "splunk-eu"}[i%3]
		post("/status/pipeline", fmt.Sprintf(`{"server_group":%q,"host":"h-%02d","server_type":%q,"environment":%q,
			"status":%q,"validation_status":%q,"commit_sha":"%040x","branch":"main","changed_files":["/etc/a.conf"],"updated_by":"ci"}`,
			group, i, types[i%3], envs[i%2], gitops.Statuses[i%4], gitops.ValidationStatuses[i%4], i))
		if i%3 == 0 {
			post("/status/cron", fmt.Sprintf(`{"server_group":%q,"host":"h-%02d","status":"out_of_sync","changed_files":["/etc/b.conf"]}`, group, i))
		}
	}
	// A new commit on a failed server: an event whose status did not change.
	post("/status/pipeline", `{"server_group":"web-dev","host":"h-10","server_type":"nginx","environment":"prod","status":"failed","commit_sha":"feedbeef","branch":"main"}`)
	return srv, store
}

// runInfinity runs an Infinity query against the server as the plugin's
// backend parser does and returns its rows, or fails the test where the
// plugin would show an error.
func runInfinity(t *testing.T, base, rawURL string, tg target) []map[string]any {
	t.Helper()
	resp, err := http.Get(base + rawURL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		// The plugin drops the body of an error: a panel would only say
		// "400 Bad Request".
		t.Fatalf("GET %s: %d %s", rawURL, resp.StatusCode, body)
	}
	rows, err := backendParse(body, tg.RootSelector, tg.Columns)
	if err != nil {
		t.Fatalf("GET %s: %v", rawURL, err)
	}
	return rows
}

// TestInfinityQueries runs every Infinity query of every dashboard against
// a seeded server, with the variables at "All" and at each of their values,
// and checks each declared column comes back with its declared type.
func TestInfinityQueries(t *testing.T) {
	srv, _ := seedServer(t)
	from, to := time.Now().Add(-24*time.Hour), time.Now().Add(time.Minute)
	for _, d := range loadDashboards(t) {
		vars := map[string]variable{}
		values := map[string][]string{} // the values each variable offers
		for _, v := range d.Templating.List {
			vars[v.Name] = v
			switch v.Type {
			case "query":
				if v.Datasource == nil || v.Datasource.Type != infinityType {
					continue
				}
				var q struct {
					QueryType     string `json:"queryType"`
					InfinityQuery target `json:"infinityQuery"`
				}
				if err := json.Unmarshal(v.Query, &q); err != nil || q.QueryType != "infinity" {
					t.Fatalf("%s: variable %s: not an Infinity query: %s", d.file, v.Name, v.Query)
				}
				checkInfinityTarget(t, d.file+" variable "+v.Name, q.InfinityQuery, false)
				rows := runInfinity(t, srv.URL, q.InfinityQuery.URL, q.InfinityQuery)
				for _, r := range rows {
					for _, val := range r {
						if s, ok := val.(string); ok {
							values[v.Name] = append(values[v.Name], s)
						}
					}
				}
				if len(values[v.Name]) == 0 {
					t.Fatalf("%s: variable %s offers no value on a seeded server", d.file, v.Name)
				}
			case "custom":
				for _, o := range v.Options {
					if o.Value != "$__all" {
						values[v.Name] = append(values[v.Name], o.Value)
					}
				}
			case "textbox":
				values[v.Name] = []string{"", "nginx"}
			}
			if v.Multi {
				t.Errorf("%s: variable %s is multi-value: the API takes repeated parameters, which no Grafana format writes", d.file, v.Name)
			}
			if v.IncludeAll && v.AllValue == "" {
				t.Errorf("%s: variable %s: All without an allValue would send every value as one", d.file, v.Name)
			}
		}
		// Variable settings to try: all at All, then each value of each
		// variable with the others at All.
		settings := []map[string]string{{}}
		for name, vs := range values {
			for _, v := range vs {
				settings = append(settings, map[string]string{name: v})
			}
		}
		queries := infinityTargets(d)
		if len(queries) == 0 && strings.Contains(d.file, "infinity") {
			t.Fatalf("%s: no Infinity query", d.file)
		}
		for _, q := range queries {
			checkInfinityTarget(t, d.file+" "+q.where, q.target, true)
			for i, set := range settings {
				u := substitute(t, q.target.URL, vars, set, from, to)
				rows := runInfinity(t, srv.URL, u, q.target)
				if i == 0 && len(rows) == 0 {
					t.Fatalf("%s %s: GET %s gave no rows on a seeded server with every variable at All", d.file, q.where, u)
				}
				checkColumns(t, fmt.Sprintf("%s %s: GET %s", d.file, q.where, u), rows, q.target.Columns)
			}
		}
		for _, p := range allPanels(d.Panels) {
			if p.Type != "table" || len(p.Targets) == 0 || len(p.Targets[0].Columns) < 2 {
				continue
			}
			// The backend parser orders columns by name: the table must
			// put them back in the order declared.
			if !hasOrganize(p, p.Targets[0].Columns) {
				t.Errorf("%s panel %q: no organize transformation ordering every declared column", d.file, p.Title)
			}
		}
		for _, a := range d.Annotations.List {
			if a.Target == nil || a.Datasource == nil || a.Datasource.Type != infinityType {
				continue
			}
			declared := map[string]bool{}
			for _, c := range a.Target.Columns {
				declared[c.Selector] = true
			}
			for _, k := range []string{"time", "text"} {
				if m, ok := a.Mappings[k]; !ok || m.Source != "field" || !declared[m.Value] {
					t.Errorf("%s annotation %s: %s is not mapped to a declared column", d.file, a.Name, k)
				}
			}
			if a.Mappings["text"].Value != "changes" {
				t.Errorf("%s annotation %s: text is %q; it must say what changed (changes)", d.file, a.Name, a.Mappings["text"].Value)
			}
		}
	}
}

type located struct {
	where  string
	target target
}

func infinityTargets(d *dashboard) []located {
	var out []located
	for _, p := range allPanels(d.Panels) {
		for _, tg := range p.Targets {
			if tg.Datasource != nil && tg.Datasource.Type == infinityType {
				out = append(out, located{fmt.Sprintf("panel %q query %s", p.Title, tg.RefID), tg})
			}
		}
	}
	for _, a := range d.Annotations.List {
		if a.Target != nil && a.Datasource != nil && a.Datasource.Type == infinityType {
			out = append(out, located{"annotation " + a.Name, *a.Target})
		}
	}
	return out
}

var (
	braceless = regexp.MustCompile(`\$__(from|to)\b`)
	jsonata   = regexp.MustCompile(`[${}()\[\]&=<>"]`)
)

// checkInfinityTarget enforces what the plugin needs to show our answers
// right (issue 11 item 5).
func checkInfinityTarget(t *testing.T, where string, tg target, panel bool) {
	t.Helper()
	if tg.Type != "json" || tg.Source != "url" || tg.Parser != "backend" {
		t.Errorf("%s: type %q, source %q, parser %q; want json, url, backend", where, tg.Type, tg.Source, tg.Parser)
	}
	if !strings.HasPrefix(tg.URL, "/") {
		t.Errorf("%s: URL %q is not a path on the datasource's URL", where, tg.URL)
	}
	if braceless.MatchString(tg.URL) {
		t.Errorf("%s: URL %q uses $__from/$__to without braces", where, tg.URL)
	}
	// A plain gjson path; JSONata object construction is swallowed.
	if jsonata.MatchString(strings.TrimSuffix(tg.RootSelector, "|@keys")) {
		t.Errorf("%s: root selector %q is not a plain path", where, tg.RootSelector)
	}
	if !panel {
		return
	}
	if len(tg.Columns) == 0 {
		t.Errorf("%s: no declared columns: Infinity would leave times as text", where)
	}
	for _, c := range tg.Columns {
		if c.Text != "" && c.Text != c.Selector {
			// The backend parser keys rows by the column's text but finds
			// the column by its selector: a different text loses it.
			t.Errorf("%s: column %q has text %q; rename in a transformation instead", where, c.Selector, c.Text)
		}
		switch c.Type {
		case "string", "number", "timestamp", "timestamp_epoch", "timestamp_epoch_s", "boolean":
		default:
			t.Errorf("%s: column %q has type %q", where, c.Selector, c.Type)
		}
	}
}

func hasOrganize(p panel, cols []column) bool {
	for _, tr := range p.Transformations {
		if tr.ID != "organize" {
			continue
		}
		idx, _ := tr.Options["indexByName"].(map[string]any)
		for _, c := range cols {
			if _, ok := idx[c.Selector]; !ok {
				return false
			}
		}
		return true
	}
	return false
}

var varRE = regexp.MustCompile(`\$\{([A-Za-z0-9_]+)(?::([A-Za-z0-9_:]+))?\}|\$([A-Za-z0-9_]+)`)

// substitute replaces Grafana variables in a query URL as Grafana does:
// the variable's value (its allValue for All) in the format asked for,
// and the time range.
func substitute(t *testing.T, raw string, vars map[string]variable, set map[string]string, from, to time.Time) string {
	t.Helper()
	return varRE.ReplaceAllStringFunc(raw, func(m string) string {
		sm := varRE.FindStringSubmatch(m)
		name, format := sm[1], sm[2]
		if name == "" {
			name = sm[3]
		}
		switch name {
		case "__from", "__to":
			tm := from
			if name == "__to" {
				tm = to
			}
			switch format {
			case "", "date:epoch_ms":
				return strconv.FormatInt(tm.UnixMilli(), 10)
			case "date:seconds":
				return strconv.FormatInt(tm.Unix(), 10)
			case "date:iso":
				return tm.UTC().Format(time.RFC3339)
			}
			t.Fatalf("unknown time format %q", format)
		}
		v, ok := vars[name]
		if !ok {
			t.Fatalf("URL %q uses $%s, which the dashboard does not define", raw, name)
		}
		val, chosen := set[name]
		if !chosen {
			if v.IncludeAll {
				val = v.AllValue
			} else if v.Type == "textbox" {
				val = ""
			}
		}
		switch format {
		case "", "raw", "text":
			return val
		case "percentencode":
			return url.QueryEscape(val)
		}
		t.Fatalf("variable format %q is not one the test knows", format)
		return ""
	})
}

// checkColumns checks every declared column as the backend parser types
// it: a column no row carries would be missing from the frame, and a
// value the declared type cannot hold would be shown empty.
func checkColumns(t *testing.T, where string, rows []map[string]any, cols []column) {
	t.Helper()
	for _, c := range cols {
		present := false
		for i, r := range rows {
			v, ok := r[c.Selector]
			present = present || ok
			if v == nil {
				continue
			}
			if _, err := convert(v, c.Type); err != nil {
				t.Errorf("%s: row %d column %q (%s): %v", where, i, c.Selector, c.Type, err)
				return
			}
		}
		if len(rows) > 0 && !present {
			t.Errorf("%s: column %q is in no row of the answer", where, c.Selector)
		}
	}
}

// convert is gframer's conversion of one value to a declared column type
// (infinity-libs lib/go/gframer/field.go): a number column takes numbers
// and numeric strings; a timestamp column parses strings as RFC 3339 (a
// number there is read as a year); epoch columns take numbers or integer
// strings; a boolean column takes booleans and "true"; a string column
// takes anything (lists and objects as their JSON). What it cannot convert
// comes out empty: an error here.
func convert(v any, typ string) (any, error) {
	switch typ {
	case "string":
		return v, nil
	case "number":
		switch x := v.(type) {
		case float64:
			return x, nil
		case string:
			if f, err := strconv.ParseFloat(x, 64); err == nil {
				return f, nil
			}
		}
	case "timestamp":
		switch x := v.(type) {
		case string:
			if tm, err := time.Parse(time.RFC3339, x); err == nil {
				return tm, nil
			}
		case float64:
			if tm, err := time.Parse("2006", fmt.Sprintf("%.0f", x)); err == nil {
				return tm, nil
			}
		}
	case "timestamp_epoch", "timestamp_epoch_s":
		switch x := v.(type) {
		case float64:
			return x, nil
		case string:
			if n, err := strconv.ParseInt(x, 10, 64); err == nil {
				return n, nil
			}
		}
	case "boolean":
		if b, ok := v.(bool); ok {
			return b, nil
		}
	}
	return nil, fmt.Errorf("%s value %#v comes out empty", typ, v)
}

// backendParse is the plugin's backend JSON parser (jsonframer with
// gjson): the root selector picks the rows, and each row keeps the
// declared columns' selectors.
func backendParse(body []byte, root string, cols []column) ([]map[string]any, error) {
	var doc any
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("invalid json response received: %v", err)
	}
	data, err := gjsonGet(doc, root)
	if err != nil {
		return nil, err
	}
	var items []any
	switch x := data.(type) {
	case []any:
		items = x
	case map[string]any:
		items = []any{x}
	default:
		items = []any{x}
	}
	var rows []map[string]any
	for _, it := range items {
		obj, ok := it.(map[string]any)
		if !ok {
			// A list of plain values: one column named by the query.
			rows = append(rows, map[string]any{"": it})
			continue
		}
		if len(cols) == 0 {
			rows = append(rows, obj)
			continue
		}
		r := map[string]any{}
		for _, c := range cols {
			if v, ok := obj[c.Selector]; ok {
				r[c.Selector] = v
			}
		}
		rows = append(rows, r)
	}
	return rows, nil
}

// gjsonGet follows the gjson paths the dashboards use: dotted keys and the
// @keys modifier after a pipe.
func gjsonGet(doc any, path string) (any, error) {
	if path == "" {
		return doc, nil
	}
	p, mod, _ := strings.Cut(path, "|")
	cur := doc
	for _, k := range strings.Split(p, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("root selector %q: %q is not an object", path, k)
		}
		if cur, ok = m[k]; !ok {
			return nil, fmt.Errorf("root selector %q: no %q", path, k)
		}
	}
	switch mod {
	case "":
		return cur, nil
	case "@keys":
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("root selector %q: @keys of a non-object", path)
		}
		keys := make([]any, 0, len(m))
		for _, k := range slices.Sorted(func(yield func(string) bool) {
			for k := range m {
				if !yield(k) {
					return
				}
			}
		}) {
			keys = append(keys, k)
		}
		return keys, nil
	}
	return nil, fmt.Errorf("root selector %q: modifier %q is not one the test knows", path, mod)
}

// TestPrometheusDashboardQueries checks every PromQL expression of the
// dashboards with promtool, and that every metric they name is in a real
// scrape.
func TestPrometheusDashboardQueries(t *testing.T) {
	srv, _ := seedServer(t)
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	scrape, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	exported := map[string]bool{"up": true}
	for _, l := range strings.Split(string(scrape), "\n") {
		if strings.HasPrefix(l, "# TYPE ") {
			f := strings.Fields(l)
			exported[f[2]] = true
			if f[3] == "histogram" {
				for _, s := range []string{"_bucket", "_sum", "_count"} {
					exported[f[2]+s] = true
				}
			}
		}
	}
	var rules strings.Builder
	rules.WriteString("groups:\n  - name: dashboard-queries\n    rules:\n")
	n := 0
	nameRE := regexp.MustCompile(`\b((?:gitops|go|process)_[a-z_]+|up)\b`)
	for _, d := range loadDashboards(t) {
		for _, p := range allPanels(d.Panels) {
			for _, tg := range p.Targets {
				if tg.Datasource == nil || tg.Datasource.Type != prometheusType {
					continue
				}
				expr := strings.NewReplacer("$__rate_interval", "1m", "$group", ".*", "$environment", ".*").Replace(tg.Expr)
				if strings.Contains(expr, "$") {
					t.Errorf("%s panel %q: %q uses a variable the test does not know", d.file, p.Title, tg.Expr)
				}
				for _, m := range nameRE.FindAllString(expr, -1) {
					if !exported[m] {
						t.Errorf("%s panel %q: %s is not in a scrape of gitops-status", d.file, p.Title, m)
					}
				}
				n++
				fmt.Fprintf(&rules, "      - record: dashboard:query_%d\n        expr: %s\n", n, strconv.Quote(expr))
			}
		}
	}
	if n == 0 {
		t.Fatal("no Prometheus query in any dashboard")
	}
	promtool := tools.Need(t, "promtool")
	file := filepath.Join(t.TempDir(), "queries.yml")
	if err := os.WriteFile(file, []byte(rules.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.CommandContext(context.Background(), promtool, "check", "rules", file).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check rules on the dashboards' queries: %v\n%s", err, out)
	}
}
