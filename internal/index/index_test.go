package index

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"

	gitops "github.com/gitops-status/gitops-status"
)

// TestPublish applies random batches of creates, replacements and
// deletions to an index and to a plain map, and checks that the index
// holds exactly the map's entries, sorted, after every batch.
func TestPublish(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	x := New(nil)
	model := map[gitops.Key]*Entry{}
	key := func() gitops.Key {
		return gitops.Key{ServerGroup: fmt.Sprintf("g%d", rng.IntN(4)), Host: fmt.Sprintf("h%02d", rng.IntN(40))}
	}
	for batch := range 2000 {
		final := map[gitops.Key]*Entry{}
		for range 1 + rng.IntN(12) {
			k := key()
			if rng.IntN(3) == 0 {
				final[k] = nil
			} else {
				final[k] = &Entry{group: k.ServerGroup, host: k.Host, ChangedFiles: batch}
			}
		}
		x.Publish(final)
		for k, e := range final {
			if e == nil {
				delete(model, k)
			} else {
				model[k] = e
			}
		}
		want := slices.SortedFunc(maps.Values(model), compareEntries)
		if !slices.Equal(x.entries, want) {
			t.Fatalf("batch %d: entries differ from the model:\n  got  %v\n  want %v", batch, keysOfEntries(x.entries), keysOfEntries(want))
		}
		if !maps.Equal(x.byKey, model) {
			t.Fatalf("batch %d: byKey differs from the model", batch)
		}
		if all := x.spare[:cap(x.spare)]; slices.ContainsFunc(all, func(e *Entry) bool { return e != nil }) {
			t.Fatalf("batch %d: the spare buffer keeps entries alive", batch)
		}
	}
}

func keysOfEntries(es []*Entry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.Key().String()
	}
	return out
}
