package httpapi

import (
	"testing"
	"time"
)

func TestParseQueryTime(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string // RFC 3339 in UTC; "" = refused
	}{
		{"epoch seconds (${__from:date:seconds})", "1777199400", "2026-04-26T10:30:00Z"},
		{"epoch milliseconds (${__from})", "1777199400000", "2026-04-26T10:30:00Z"},
		{"epoch milliseconds with a fraction of a second", "1777199400123", "2026-04-26T10:30:00.123Z"},
		{"zero is the epoch in seconds", "0", "1970-01-01T00:00:00Z"},
		{"leading zeros are still digits", "0001777199400", "2026-04-26T10:30:00Z"},
		{"largest value read as seconds", "99999999999", "5138-11-16T09:46:39Z"},
		{"smallest value read as milliseconds", "100000000000", "1973-03-03T09:46:40Z"},
		{"milliseconds in the year 9999", "253402300799999", "9999-12-31T23:59:59.999Z"},
		{"milliseconds past the year 9999", "253402300800000", ""},
		{"too large for 64 bits", "99999999999999999999", ""},
		{"negative", "-5", ""},
		{"decimal seconds", "1777199400.5", ""},
		{"RFC 3339", "2026-04-26T10:30:00Z", "2026-04-26T10:30:00Z"},
		{"RFC 3339 with an offset", "2026-04-26T13:30:00+03:00", "2026-04-26T10:30:00Z"},
		{"an unescaped + arrives as a space", "2026-04-26T13:30:00 03:00", "2026-04-26T10:30:00Z"},
		{"offset-free ISO time is UTC", "2026-04-26T10:30:00", "2026-04-26T10:30:00Z"},
		{"words", "yesterday", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := parseQueryTime(tt.in)
			if tt.want == "" {
				if ok {
					t.Fatalf("parseQueryTime(%q) = %s, want it refused", tt.in, got.Format(time.RFC3339Nano))
				}
				return
			}
			if !ok {
				t.Fatalf("parseQueryTime(%q) refused, want %s", tt.in, tt.want)
			}
			if s := got.Format(time.RFC3339Nano); s != tt.want {
				t.Fatalf("parseQueryTime(%q) = %s, want %s", tt.in, s, tt.want)
			}
		})
	}
}
