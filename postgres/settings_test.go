package postgres

import (
	"strings"
	"testing"
)

func TestSettingWarnings(t *testing.T) {
	for _, tc := range []struct {
		autovacuum, trackCounts string
		want                    []string // a phrase each warning must hold, in order
	}{
		{"on", "on", nil},
		{"off", "on", []string{"autovacuum = off"}},
		{"on", "off", []string{"track_counts = off"}},
		{"off", "off", []string{"autovacuum = off", "track_counts = off"}},
	} {
		got := settingWarnings(tc.autovacuum, tc.trackCounts)
		if len(got) != len(tc.want) {
			t.Errorf("autovacuum=%s track_counts=%s: %d warnings %q, want %d", tc.autovacuum, tc.trackCounts, len(got), got, len(tc.want))
			continue
		}
		for i, w := range got {
			// Each warning names the setting, why it matters and the fix.
			for _, phrase := range []string{tc.want[i], "slows down", "ALTER SYSTEM SET"} {
				if !strings.Contains(w, phrase) {
					t.Errorf("warning %q does not say %q", w, phrase)
				}
			}
		}
	}
}
