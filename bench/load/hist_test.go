package main

import (
	"math"
	"testing"
	"time"
)

func TestBucketsAreContiguous(t *testing.T) {
	prev := 0
	for v := uint64(1); v < 1<<40; v = v*5/4 + 1 {
		b := bucketOf(v)
		if b < prev {
			t.Fatalf("bucketOf(%d) = %d, below bucket %d of a smaller value", v, b, prev)
		}
		if b >= histBuckets {
			t.Fatalf("bucketOf(%d) = %d, want < %d", v, b, histBuckets)
		}
		if got := bucketMid(b); math.Abs(float64(got)-float64(v)) > 0.016*float64(v)+1 {
			t.Fatalf("bucketMid(bucketOf(%d)) = %d, more than 1.6%% off", v, got)
		}
		prev = b
	}
	if got := bucketOf(math.MaxInt64); got >= histBuckets {
		t.Fatalf("bucketOf(MaxInt64) = %d, want < %d", got, histBuckets)
	}
}

func TestQuantile(t *testing.T) {
	var h histogram
	for i := 1; i <= 1000; i++ {
		h.record(time.Duration(i) * time.Microsecond)
	}
	tests := []struct {
		name string
		q    float64
		want time.Duration
	}{
		{"p50", 0.50, 500 * time.Microsecond},
		{"p99", 0.99, 990 * time.Microsecond},
		{"max", 1, 1000 * time.Microsecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := h.quantile(tt.q)
			if math.Abs(float64(got-tt.want)) > 0.016*float64(tt.want) {
				t.Fatalf("quantile(%v) = %v, want %v ±1.6%%", tt.q, got, tt.want)
			}
		})
	}
	var empty histogram
	if got := empty.quantile(0.5); got != 0 {
		t.Fatalf("empty quantile = %v, want 0", got)
	}
}
