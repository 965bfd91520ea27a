package index

import (
	"strings"
	"testing"
)

// TestHeadRoundTrips fails when the domain's AppendJSONHead writes
// something DecodeHead does not read back; the store would then still be
// right, but read every updated record with SQL.
func TestHeadRoundTrips(t *testing.T) {
	if !HeadRoundTrips() {
		s := HeadSample()
		_, err := DecodeHead(s.AppendJSONHead(nil))
		t.Fatalf("DecodeHead does not read back AppendJSONHead's sample (%v):\n%s", err, s.AppendJSONHead(nil))
	}
}

func TestDecodeHeadRefuses(t *testing.T) {
	s := HeadSample()
	head := string(s.AppendJSONHead(nil))
	for name, in := range map[string]string{
		"empty":         "",
		"closed":        head + "}",
		"missing field": strings.Replace(head, `,"branch":"main"`, "", 1),
		"unknown field": strings.Replace(head, `,"branch":"main"`, `,"branch":"main","extra":"x"`, 1),
		"twice":         strings.Replace(head, `,"branch":"main"`, `,"branch":"main","branch":"x"`, 1),
		"bad time":      strings.Replace(head, `"2026-04-26T10:30:00.123456Z"`, `"yesterday"`, 1),
		"bad escape":    strings.Replace(head, `"main"`, `"ma\qin"`, 1),
		"truncated":     head[:len(head)-3],
	} {
		if _, err := DecodeHead([]byte(in)); err == nil {
			t.Errorf("%s: DecodeHead accepted %s", name, in)
		}
	}
}
