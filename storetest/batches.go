package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	gitops "github.com/gitops-status/gitops-status"
)

// testBatches checks StoreOptions.ObserveBatch: every committed update is
// counted in exactly one observed batch, each batch holds at least one,
// and concurrent updates share batches no larger than they are many.
func (h *harness) testBatches(t *testing.T) {
	var mu sync.Mutex
	var batches []int
	c := NewClock(T0, time.Microsecond)
	s := h.open(t, gitops.StoreOptions{Now: c.Now, ObserveBatch: func(n int) {
		mu.Lock()
		batches = append(batches, n)
		mu.Unlock()
	}})
	const clients, each = 16, 20
	var wg sync.WaitGroup
	for w := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if _, err := s.Apply(t.Context(), pipeline("g", fmt.Sprintf("h-%02d", w), gitops.StatusSynced, sha(i))); err != nil {
					t.Errorf("Apply: %v", err)
					return
				}
			}
		}()
	}
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	total := 0
	for _, n := range batches {
		if n < 1 || n > clients {
			t.Errorf("a batch of %d updates observed; want 1 to %d (one per client at most)", n, clients)
		}
		total += n
	}
	if total != clients*each {
		t.Fatalf("observed batches hold %d updates in all (%d batches), want the %d applied", total, len(batches), clients*each)
	}
}
