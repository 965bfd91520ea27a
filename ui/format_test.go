package ui

import (
	"testing"
	"time"

	gitops "github.com/gitops-status/gitops-status"
)

func TestSpan(t *testing.T) {
	tests := []struct {
		name string
		in   time.Duration
		want string
	}{
		{"negative reads as zero", -5 * time.Second, "0 s"},
		{"zero", 0, "0 s"},
		{"seconds round down", 59*time.Second + 999*time.Millisecond, "59 s"},
		{"a minute", time.Minute, "1 min"},
		{"minutes up to two hours", 119*time.Minute + 59*time.Second, "119 min"},
		{"two hours", 2 * time.Hour, "2 h"},
		{"out of sync for 3 h", 3*time.Hour + 59*time.Minute, "3 h"},
		{"hours up to two days", 47*time.Hour + 59*time.Minute, "47 h"},
		{"two days", 48 * time.Hour, "2 d"},
		{"a year", 365 * 24 * time.Hour, "365 d"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := span(tt.in); got != tt.want {
				t.Fatalf("span(%s) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestAgo(t *testing.T) {
	tests := []struct {
		name string
		t    time.Time
		want string
	}{
		{"unset", time.Time{}, "never"},
		{"now", t0, "0 s ago"},
		{"past", t0.Add(-12 * time.Minute), "12 min ago"},
		{"days", t0.Add(-50 * time.Hour), "2 d ago"},
		{"a reporter's clock ahead", t0.Add(2 * time.Minute), "in 2 min"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ago(t0, tt.t); got != tt.want {
				t.Fatalf("ago(%s) = %q, want %q", tt.t, got, tt.want)
			}
		})
	}
}

func TestTimeCells(t *testing.T) {
	since := t0.Add(-3*time.Hour - 20*time.Minute)
	tests := []struct {
		name string
		got  timeCell
		want timeCell
	}{
		{"out of sync for 3 h", forCell(t0, since),
			timeCell{Text: "3 h", Exact: "2026-04-26 07:10:00 UTC", ISO: "2026-04-26T07:10:00Z"}},
		{"for, unset", forCell(t0, time.Time{}), timeCell{Text: "–"}},
		{"ago", agoCell(t0, since), timeCell{Text: "3 h ago", Exact: "2026-04-26 07:10:00 UTC", ISO: "2026-04-26T07:10:00Z"}},
		{"ago, unset", agoCell(t0, time.Time{}), timeCell{Text: "never"}},
		{"exact time in UTC", agoCell(t0, since.In(time.FixedZone("CEST", 2*3600))),
			timeCell{Text: "3 h ago", Exact: "2026-04-26 07:10:00 UTC", ISO: "2026-04-26T07:10:00Z"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Fatalf("got %+v, want %+v", tt.got, tt.want)
			}
		})
	}
}

func TestWords(t *testing.T) {
	tests := []struct {
		name, got, want string
	}{
		{"out of sync", statusWord(gitops.StatusOutOfSync), "out of sync"},
		{"synced", statusWord(gitops.StatusSynced), "synced"},
		{"no status", statusWord(""), "–"},
		{"short commit", shortCommit("0123456789abcdef"), "0123456"},
		{"commit already short", shortCommit("abc12"), "abc12"},
		{"commit of runes", shortCommit("ééééééééé"), "ééééééé"},
		{"thousands", thousands(10000), "10,000"},
		{"hundreds", thousands(999), "999"},
		{"millions", thousands(1234567), "1,234,567"},
		{"negative", thousands(-1234), "-1,234"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Fatalf("got %q, want %q", tt.got, tt.want)
			}
		})
	}
}
