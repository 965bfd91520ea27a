package postgres

import (
	"encoding/json"
	"reflect"
	"testing"
)

func TestReadLabels(t *testing.T) {
	tests := []struct {
		name string
		in   string
	}{
		{"empty", `{}`},
		{"one", `{"dc": "fra"}`},
		{"several", `{"a": "1", "b": "", "dc": "fra"}`},
		{"compact", `{"a":"1","b":"2"}`},
		{"unicode", `{"ünï": "çödé ✓"}`},
		{"escaped quote", `{"a\"b": "c"}`},
		{"escaped backslash", `{"a": "c\\d"}`},
		{"unicode escape", `{"a": "\u00e9\n"}`},
		{"surrogate pair", `{"a": "\ud83d\ude00"}`},
		{"spaces", ` { "a" : "b" , "c" : "d" } `},
		{"duplicate key", `{"a": "1", "a": "2"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readLabels([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]string{}
			if err := json.Unmarshal([]byte(tt.in), &want); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("readLabels(%s) = %q, want %q", tt.in, got, want)
			}
		})
	}
	for _, bad := range []string{`{"a": 1}`, `{"a"}`, `{"a": "b"`, `["a"]`, `{"a": "b"} x`} {
		if _, err := readLabels([]byte(bad)); err == nil {
			t.Errorf("readLabels(%s) accepted it", bad)
		}
	}
}

// FuzzReadLabels: whatever the fast path accepts, encoding/json reads the
// same way.
func FuzzReadLabels(f *testing.F) {
	for _, s := range []string{`{}`, `{"a": "b"}`, `{"a":"b","c":"d"}`, `{"a\"": "\\"}`, `{"a": "\u0000"}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, ok := readPlainLabels([]byte(s))
		if !ok {
			return
		}
		var want map[string]string
		if err := json.Unmarshal([]byte(s), &want); err != nil {
			t.Fatalf("fast path accepted %q, encoding/json refuses it: %v", s, err)
		}
		if !reflect.DeepEqual(m, want) {
			t.Fatalf("%q: fast path %q, encoding/json %q", s, m, want)
		}
	})
}
