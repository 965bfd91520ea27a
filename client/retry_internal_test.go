package client

import (
	"net/http"
	"testing"
	"time"
)

func TestRetryPolicy_delay(t *testing.T) {
	p := RetryPolicy{InitialDelay: 100 * time.Millisecond, MaxDelay: time.Second, Jitter: 0.5}
	tests := []struct {
		name string
		n    int
		rnd  float64
		want time.Duration
	}{
		{"first wait, no jitter drawn", 1, 0, 100 * time.Millisecond},
		{"doubles", 2, 0, 200 * time.Millisecond},
		{"doubles again", 4, 0, 800 * time.Millisecond},
		{"capped", 5, 0, time.Second},
		{"stays capped", 60, 0, time.Second},
		{"jitter takes at most half", 5, 0.999999, 500*time.Millisecond + 500},
		{"jitter in between", 3, 0.5, 300 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := p.delay(tt.n, tt.rnd); got != tt.want {
				t.Fatalf("delay(%d, %v) = %s, want %s", tt.n, tt.rnd, got, tt.want)
			}
		})
	}
	if got := (RetryPolicy{}).delay(1, 0); got != 500*time.Millisecond {
		t.Fatalf("zero policy's first wait = %s, want the 500ms default", got)
	}
	if got := (RetryPolicy{Jitter: 7}).delay(1, 0.5); got != 250*time.Millisecond {
		t.Fatalf("a jitter above 1 counts as 1: %s", got)
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 4, 26, 10, 30, 0, 0, time.UTC)
	tests := []struct {
		name, v string
		want    time.Duration
	}{
		{"none", "", 0},
		{"seconds", "7", 7 * time.Second},
		{"zero", "0", 0},
		{"negative", "-3", 0},
		{"date", now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{"past date", now.Add(-time.Hour).Format(http.TimeFormat), 0},
		{"garbage", "soon", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			if tt.v != "" {
				h.Set("Retry-After", tt.v)
			}
			if got := retryAfter(h, now); got != tt.want {
				t.Fatalf("retryAfter(%q) = %s, want %s", tt.v, got, tt.want)
			}
		})
	}
}
