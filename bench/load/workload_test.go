package main

import "testing"

func TestSHARoundTrip(t *testing.T) {
	tests := []struct {
		name string
		run  uint32
		host int
		seq  uint64
	}{
		{"seed", 0, 0, 0},
		{"kill9", 0xdeadbeef, 99_999, 123_456_789},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sha := shaFor(tt.run, tt.host, tt.seq)
			if len(sha) != 40 {
				t.Fatalf("shaFor = %q, want 40 hex digits", sha)
			}
			run, host, seq, ok := parseSHA(sha)
			if !ok || run != tt.run || host != tt.host || seq != tt.seq {
				t.Fatalf("parseSHA(%q) = %d, %d, %d, %v", sha, run, host, seq, ok)
			}
		})
	}
	if _, _, _, ok := parseSHA("0123456789abcdef0123456789abcdef0123456z"); ok {
		t.Fatal("parseSHA accepted a non-hex SHA")
	}
}

// Every server belongs to exactly one writer, so the kill -9 check knows
// the order of its writes.
func TestPartitionCoversEachServerOnce(t *testing.T) {
	const n, k = 1000, 32
	seen := make([]int, n)
	for w := range k {
		for _, h := range partition(w, k, n) {
			seen[h]++
		}
	}
	for h, c := range seen {
		if c != 1 {
			t.Fatalf("server %d is in %d partitions, want 1", h, c)
		}
	}
}

func TestMixedUsesEveryWorker(t *testing.T) {
	tg := newTarget("http://127.0.0.1:1", nil, 100)
	if got := len(tg.mixedRequesters(32)); got != 32 {
		t.Fatalf("mixedRequesters(32) made %d workers, want 32", got)
	}
}
