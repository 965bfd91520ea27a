package sqlite

import (
	"context"
	"encoding/json"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	gitops "github.com/gitops-status/gitops-status"
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
		if got := jsonList(l); got != string(want) {
			t.Errorf("jsonList(%q) = %s, want %s", l, got, want)
		}
	}
	if got := jsonList(nil); got != "[]" {
		t.Errorf("jsonList(nil) = %s, want []", got)
	}
}
