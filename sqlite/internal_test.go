package sqlite

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	gitops "github.com/gitops-status/gitops-status"
	"github.com/gitops-status/gitops-status/storetest"
)

// TestPragmas checks that the DSN gives every connection, the writer's and
// the readers', the settings durability and concurrency depend on.
func TestPragmas(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "status.db"), gitops.StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	want := map[string]string{"synchronous": "2", "busy_timeout": "10000", "foreign_keys": "1", "journal_mode": "wal"}
	check := func(who string, q func(string) (string, error)) {
		for p, w := range want {
			if got, err := q(p); err != nil || got != w {
				t.Errorf("%s: PRAGMA %s = %q, %v; want %q", who, p, got, err, w)
			}
		}
	}
	ctx := context.Background()
	check("reader", func(p string) (v string, err error) {
		err = s.readDB.QueryRowContext(ctx, "PRAGMA "+p).Scan(&v)
		return v, err
	})
	// The writer commits without syncing; the syncer syncs before any
	// write is answered (TestAnswersWaitForSync).
	want["synchronous"] = "1"
	err = s.write(ctx, func(w *writer) error {
		check("writer", func(p string) (v string, err error) {
			err = w.conn.QueryRowContext(ctx, "PRAGMA "+p).Scan(&v)
			return v, err
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestJSONColumnsRoundTrip(t *testing.T) {
	lists := [][]string{
		nil, {}, {""}, {"", ""}, {"a"}, {"a", ""}, {"", "a"}, {"etc/rsyslog.conf", "a b.conf", "x,y"},
		{`quote"d`, `back\slash`, `","`, `":"`, "<html>&", "tab\there", "ünïcödé", "\u2028", "\xff"},
	}
	for _, l := range lists {
		got, err := decodeList(jsonList(l))
		want := l
		if want == nil {
			want = []string{}
		}
		// json.Marshal replaces invalid UTF-8, as every reader would.
		for i := range want {
			want[i] = strings.ToValidUTF8(want[i], "\ufffd")
		}
		if err != nil || got == nil || !slices.Equal(got, want) {
			t.Errorf("decodeList(jsonList(%q)) = %q, %v", l, got, err)
		}
	}
	ms := []map[string]string{
		nil, {}, {"": ""}, {"dc": "dc1"}, {"a": "", "b": "c"}, {`k"`: `v":"w`, "x,y": `","`, "<": "&"},
	}
	for _, m := range ms {
		got, err := decodeMap(jsonMap(m))
		if err != nil || got == nil || !maps.Equal(got, m) {
			t.Errorf("decodeMap(jsonMap(%q)) = %q, %v", m, got, err)
		}
	}
}

func FuzzJSONList(f *testing.F) {
	f.Add("a", "b")
	f.Add(`","`, `":"`)
	f.Fuzz(func(t *testing.T, a, b string) {
		l := []string{strings.ToValidUTF8(a, "\ufffd"), strings.ToValidUTF8(b, "\ufffd")}
		got, err := decodeList(jsonList(l))
		if err != nil || !slices.Equal(got, l) {
			t.Errorf("decodeList(jsonList(%q)) = %q, %v", l, got, err)
		}
		m := map[string]string{l[0]: l[1]}
		gm, err := decodeMap(jsonMap(m))
		if err != nil || !maps.Equal(gm, m) {
			t.Errorf("decodeMap(jsonMap(%q)) = %q, %v", m, gm, err)
		}
	})
}

// TestJSONListMatchesMarshal checks that jsonList writes what json.Marshal
// writes, byte for byte, so event rows read back as before.
func TestJSONListMatchesMarshal(t *testing.T) {
	for _, l := range [][]string{
		{"a"}, {"rsyslog.conf", "rsyslog.d/50-remote.conf"}, {""}, {`q"uote`, `back\slash`},
		{"<html>&", "\u2028\u2029", "\xff\xfe", "tab\tnl\n\x01"}, {"ünïcödé", "日本"},
	} {
		want, err := json.Marshal(l)
		if err != nil {
			t.Fatal(err)
		}
		// Go 1.26's encoding/json escapes U+FFFD (invalid UTF-8) as \ufffd,
		// Go 1.27's writes the character: the same JSON either way.
		norm := strings.NewReplacer(`\ufffd`, "\uFFFD").Replace
		if got := jsonList(l); norm(got) != norm(string(want)) {
			t.Errorf("jsonList(%q) = %s, want %s", l, got, want)
		}
	}
	if got := jsonList(nil); got != "[]" {
		t.Errorf("jsonList(nil) = %s, want []", got)
	}
}

// serverArgs is the upsertServer arguments for s, whose head is head.
func serverArgs(s *gitops.Server, head []byte) []any {
	r := serverRow(s, head)
	return r.appendArgs(nil, everyArg)
}

// TestArgColumns checks that argColumns names serverArgs's arguments: the
// columns of upsertServer, in its order.
func TestArgColumns(t *testing.T) {
	sv := gitops.Server{ServerGroup: "g", Host: "h"}
	if n := len(serverArgs(&sv, sv.AppendJSONHead(nil))); len(argColumns) != n {
		t.Fatalf("%d argColumns for %d serverArgs", len(argColumns), n)
	}
	args := serverArgs(&sv, sv.AppendJSONHead(nil))
	if got := allArgs.Append(nil, args); len(got) != len(args)-2 || got[0] != args[2] {
		t.Errorf("allArgs picks %d of the %d arguments, starting with %v", len(got), len(args), got[0])
	}
	insert := strings.Join(strings.Fields(serverColumns+", stale_after_us, head"), " ")
	if got := strings.Join(argColumns, ", "); got != insert {
		t.Errorf("argColumns:\n%s\nupsertServer's columns:\n%s", got, insert)
	}
}

// TestPartialUpdatesKeepColumnsExact applies a sequence of updates that
// change different sets of columns, each as a partial UPDATE of the columns
// it changed, and checks after each that every column read with SQL (Get)
// says what the stored record says (GetEncoded, from the index).
func TestPartialUpdatesKeepColumnsExact(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "status.db"), gitops.StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	k := gitops.Key{ServerGroup: "web", Host: "web-01"}
	updates := storetest.ColumnUpdates(k)
	for i, u := range updates {
		if _, err := s.Apply(ctx, u); err != nil {
			t.Fatalf("update %d: %v", i, err)
		}
		fromSQL, err := s.Get(ctx, k)
		if err != nil {
			t.Fatalf("update %d: Get: %v", i, err)
		}
		stored, err := s.GetEncoded(ctx, k)
		if err != nil {
			t.Fatalf("update %d: GetEncoded: %v", i, err)
		}
		if got, want := string(fromSQL.AppendJSONHead(nil)), string(stored.Head); got != want {
			t.Errorf("update %d: the columns say\n%s\nthe stored record says\n%s", i, got, want)
		}
		// Every column, the derived ones too, holds what writing the whole
		// record would have written.
		e := s.idx.Get(k)
		sv, err := e.Decode()
		if err != nil {
			t.Fatal(err)
		}
		want := serverArgs(&sv, e.Head())
		got := make([]any, len(argColumns))
		ptrs := make([]any, len(got))
		for j := range got {
			ptrs[j] = &got[j]
		}
		q := `SELECT ` + strings.Join(argColumns, ", ") + ` FROM servers WHERE server_group = ? AND host = ?`
		if err := s.readDB.QueryRowContext(ctx, q, k.ServerGroup, k.Host).Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		for j := range want {
			if fmt.Sprint(got[j]) != fmt.Sprint(want[j]) {
				t.Errorf("update %d: column %s = %v, want %v", i, argColumns[j], got[j], want[j])
			}
		}
	}
	// The stale filter runs in SQL on stale_after_us: it must agree too.
	for _, stale := range []bool{true, false} {
		viaSQL, _, err := s.List(ctx, gitops.Filter{Stale: &stale})
		if err != nil {
			t.Fatal(err)
		}
		viaIndex, _, err := s.ListEncoded(ctx, gitops.Filter{Stale: &stale})
		if err != nil {
			t.Fatal(err)
		}
		if len(viaSQL) != len(viaIndex) {
			t.Errorf("stale=%v: %d servers through SQL, %d through the index", stale, len(viaSQL), len(viaIndex))
		}
	}
	if n := len(s.w.updates); n == 0 {
		t.Error("no partial UPDATE was prepared: every write set every column")
	}
}

// TestStaleRowIDChangesNoOtherRow checks that an update through a rowid
// the index got wrong leaves the row it names alone and still stores the
// update: the key in the UPDATE's WHERE makes it change nothing, and the
// writer falls back to the upsert.
func TestStaleRowIDChangesNoOtherRow(t *testing.T) {
	s, _ := openTest(t, gitops.StoreOptions{})
	ctx := context.Background()
	for _, h := range []string{"a", "b"} {
		if _, err := s.Apply(ctx, pipelineUpdate(h, "c0ffee")); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.write(ctx, func(w *writer) error {
		a, b := w.current(gitops.Key{ServerGroup: "g", Host: "a"}), w.current(gitops.Key{ServerGroup: "g", Host: "b"})
		if a.RowID == 0 || b.RowID == 0 || a.RowID == b.RowID {
			t.Fatalf("rowids a %d, b %d: want two distinct known ones", a.RowID, b.RowID)
		}
		a.RowID = b.RowID
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Apply(ctx, pipelineUpdate("a", "deadbeef")); err != nil {
		t.Fatal(err)
	}
	for h, want := range map[string]string{"a": "deadbeef", "b": "c0ffee"} {
		var got string
		if err := s.readDB.QueryRowContext(ctx, `SELECT commit_sha FROM servers WHERE server_group = 'g' AND host = ?`, h).Scan(&got); err != nil || got != want {
			t.Errorf("stored commit of %s: %q, %v; want %q", h, got, err, want)
		}
	}
	var n int
	if err := s.readDB.QueryRowContext(ctx, `SELECT count(*) FROM servers`).Scan(&n); err != nil || n != 2 {
		t.Errorf("%d rows, %v; want 2", n, err)
	}
}

// TestHostLookupUsesAnIndex checks that List filtered by host alone (GET
// /api/status?server=HOST) finds its rows through servers_host, not by
// reading every server: the primary key leads with server_group.
func TestHostLookupUsesAnIndex(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "status.db"), gitops.StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var w where
	in(&w, "host", []string{"web-01"})
	for _, q := range []string{
		`SELECT count(*) FROM servers` + w.String(),
		selectServer + w.String() + ` ORDER BY server_group, host`,
	} {
		rows, err := s.readDB.Query(`EXPLAIN QUERY PLAN `+q, w.args...)
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		if !slices.ContainsFunc(plan, func(d string) bool { return strings.Contains(d, "INDEX servers_host") }) {
			t.Errorf("%s\nplan %q, want a search of servers_host", q, plan)
		}
	}
}

// TestViewRecordsNeedReadableHeads: the in-memory view hands out whole
// records (the status page's rows) only when this build reads its heads
// back exactly; otherwise Record fails and readers read the store.
func TestViewRecordsNeedReadableHeads(t *testing.T) {
	s, _ := openTest(t, gitops.StoreOptions{})
	ctx := context.Background()
	if _, err := s.Apply(ctx, &gitops.CronUpdate{ServerGroup: "g", Host: "a", Status: gitops.StatusSynced}); err != nil {
		t.Fatal(err)
	}
	for _, decode := range []bool{true, false} {
		s.headsOK = decode
		if err := s.ReadSamples(ctx, func(v gitops.Samples) error {
			if _, err := v.Record(0); (err == nil) != decode {
				t.Errorf("heads readable %v: the view's Record gave error %v", decode, err)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestClaimStopsAtItsLimit checks the plan of a claim: the pending
// deliveries walked in id order through deliveries_due, which lets it stop
// after the limit-th it takes, rather than all of them read and sorted
// (what each claim did before, at a cost that grew with the backlog).
func TestClaimStopsAtItsLimit(t *testing.T) {
	s, _ := openTest(t, gitops.StoreOptions{})
	ctx := context.Background()
	var plan []string
	err := s.write(ctx, func(w *writer) error {
		rows, err := w.conn.QueryContext(ctx, "EXPLAIN QUERY PLAN "+claimQuery, "hook", 0, 0, 16)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				return err
			}
			plan = append(plan, detail)
		}
		return rows.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(plan, "; ")
	if !strings.Contains(got, "SEARCH d USING INDEX deliveries_due") || strings.Contains(got, "TEMP B-TREE") {
		t.Errorf("claim plan: %s; want the pending deliveries walked through deliveries_due, with no sort", got)
	}
}
