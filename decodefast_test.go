package gitops

import (
	"bytes"
	"encoding/json"
	"maps"
	"slices"
	"testing"
)

// The fast paths of decodefast.go must only answer when encoding/json
// would have answered the same. These tests compare them with
// encoding/json on every value the fuzzer finds.

// checkScanObject fails when scanObject accepts data that encoding/json
// refuses, or reads it differently.
func checkScanObject(t *testing.T, data []byte) {
	t.Helper()
	got, ok := scanObject(data)
	var want object
	err := json.Unmarshal(data, &want)
	if ok {
		if err != nil {
			t.Fatalf("scanObject accepted %q, which encoding/json refuses: %v", data, err)
		}
		if !maps.EqualFunc(got, want, func(a, b json.RawMessage) bool { return bytes.Equal(a, b) }) {
			t.Fatalf("scanObject(%q) = %q, encoding/json reads %q", data, got, want)
		}
	}
	if err != nil {
		return
	}
	for _, raw := range want {
		checkPlain(t, raw)
	}
}

// checkPlain compares the plain readers with encoding/json on one value.
func checkPlain(t *testing.T, raw json.RawMessage) {
	t.Helper()
	if s, ok := plainString(raw); ok {
		var want string
		if err := json.Unmarshal(raw, &want); err != nil || s != want {
			t.Fatalf("plainString(%q) = %q, encoding/json reads %q, %v", raw, s, want, err)
		}
	}
	if l, ok := plainStrings(raw); ok {
		var ps []*string
		if err := json.Unmarshal(raw, &ps); err != nil || len(ps) != len(l) || l == nil {
			t.Fatalf("plainStrings(%q) = %q, encoding/json reads %d items, %v", raw, l, len(ps), err)
		}
		for i, p := range ps {
			if p == nil || *p != l[i] {
				t.Fatalf("plainStrings(%q)[%d] = %q, encoding/json reads %v", raw, i, l[i], p)
			}
		}
	}
	if m, ok := plainStringMap(raw); ok {
		var pm map[string]*string
		if err := json.Unmarshal(raw, &pm); err != nil || len(pm) != len(m) || m == nil {
			t.Fatalf("plainStringMap(%q) = %q, encoding/json reads %d members, %v", raw, m, len(pm), err)
		}
		for k, p := range pm {
			if k == "" || p == nil || *p != m[k] {
				t.Fatalf("plainStringMap(%q)[%q] = %q, encoding/json reads %v", raw, k, m[k], p)
			}
		}
	}
}

var scanCases = []string{
	``, `{}`, ` {} `, `{} x`, `{}{}`, `{"a":1}`, `{"a":1,}`, `{"a" 1}`, `{"a":}`, `{a:1}`,
	`{"a":"b","a":"c"}`, `{"a\u0062":1}`, `{"é":1}`, `{"a":"\u00e9\n\"\\\/\b\f\r\t"}`, `{"a":"\x"}`, `{"a":"\u12"}`,
	"{\"a\":\"\x01\"}", "{\"a\":\"\xff\"}", "{\"a\":\"\xc3\xa9\"}", "{\"a\":\"\xed\xa0\x80\"}",
	`{"a":-0,"b":0.5e+3,"c":1E9,"d":-12.75}`, `{"a":01}`, `{"a":1.}`, `{"a":.5}`, `{"a":-}`, `{"a":1e}`, `{"a":+1}`,
	`{"a":true,"b":false,"c":null}`, `{"a":tru}`, `{"a":nul}`, `{"a":truex}`,
	`{"a":[],"b":[1,"x",null,{"y":[true]}],"c":{}}`, `{"a":[1,]}`, `{"a":[1 2]}`, `{"a":{"b"}}`, `{"a":{"b":1,}}`,
	`{"l":["/a","/b"],"m":{"k":"v","k":"w"},"e":{"":"x"},"n":["a",null],"o":{"k":null},"p":[" a ", "b"] }`,
	`{"l":["a\nb"],"m":{"k\u0041":"v"},"q":["é"],"r":{"é":"ü"},"s":[1],"t":{"k":2}}`,
	`{"d":` + deep(70) + `}`, `{"d":` + deep(10) + `}`,
	" \t\r\n{ \"a\" : [ \"x\" , \"y\" ] , \"b\" : { \"k\" : \"v\" } } \n",
}

// deep nests n arrays.
func deep(n int) string {
	return string(bytes.Repeat([]byte("["), n)) + string(bytes.Repeat([]byte("]"), n))
}

func TestScanObjectAgreesWithEncodingJSON(t *testing.T) {
	for _, c := range scanCases {
		checkScanObject(t, []byte(c))
	}
}

// TestScanObjectTakesPlainBodies checks that the fast path does take the
// bodies it is for, so the speed does not silently go away.
func TestScanObjectTakesPlainBodies(t *testing.T) {
	body := []byte(`{"server_group":"g","host":"h","status":"synced","changed_files":["/a","/b"],"labels":{"dc":"1"},` +
		`"reported_at":"2026-04-26T10:00:00Z","extra":[1,-2.5e3,true,null,{"x":"é"}]}`)
	o, ok := scanObject(body)
	if !ok {
		t.Fatal("scanObject refused a plain body")
	}
	if _, ok := plainStrings(o["changed_files"]); !ok {
		t.Fatal("plainStrings refused a plain list")
	}
	if _, ok := plainStringMap(o["labels"]); !ok {
		t.Fatal("plainStringMap refused a plain map")
	}
	cron := []byte(`{"server_group":"g","host":"h","status":"out_of_sync","changed_files":["/a","/b","/c"]}`)
	if got := testing.AllocsPerRun(100, func() { _, _, _ = ParseCronUpdate(cron, ParseOptions{}) }); got > 12 {
		t.Fatalf("ParseCronUpdate of a plain body: %v allocations", got)
	}
}

func FuzzScanObject(f *testing.F) {
	for _, c := range scanCases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkScanObject(t, data)
		for _, raw := range [][]byte{data, bytes.TrimSpace(data)} {
			if json.Valid(raw) {
				checkPlain(t, raw)
			}
		}
	})
}

// TestFieldNameKnowsTheFields keeps fieldName in step with the fields the
// update decoders read: their names cost no allocation.
func TestFieldNameKnowsTheFields(t *testing.T) {
	for _, m := range []map[string]bool{pipelineKnown, cronKnown} {
		for _, k := range slices.Sorted(maps.Keys(m)) {
			key := []byte(k)
			var got string
			if n := testing.AllocsPerRun(10, func() { got = fieldName(key) }); n != 0 || got != k {
				t.Fatalf("fieldName(%q) = %q with %v allocations", k, got, n)
			}
		}
	}
}
