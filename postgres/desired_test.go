package postgres_test

import (
	"context"
	"fmt"
	"testing"

	gitops "github.com/gitops-status/gitops-status"
	"github.com/gitops-status/gitops-status/postgres"
)

// TestDesiredReplicaSeesHeads: a head set, moved or deleted through one
// replica is in the very next read of the other, on every read path, and
// a write of either replica between keeps both caches right.
func TestDesiredReplicaSeesHeads(t *testing.T) {
	t.Parallel()
	c := newClock()
	_, a, b := replicas(t, gitops.StoreOptions{Now: c.Now})
	ctx := context.Background()
	mustApply(t, a, pipeline("grp", "h0", "aaaaaaa"))
	mustApply(t, a, pipeline("grp", "h1", "bbbbbbb"))
	behindOn := func(s *postgres.Store, want int) {
		t.Helper()
		yes := true
		if l := encodedList(t, s, gitops.Filter{Behind: &yes}); len(l) != want {
			t.Fatalf("ListEncoded(behind=true) lists %d, want %d", len(l), want)
		}
		l, _, err := s.List(ctx, gitops.Filter{Behind: &yes})
		if err != nil || len(l) != want {
			t.Fatalf("List(behind=true) lists %d (%v), want %d", len(l), err, want)
		}
	}
	behindOn(b, 0) // B's cache is loaded before any head exists
	commits := []string{"aaaaaaa", "bbbbbbb"}
	for i, commit := range []string{"aaaaaaa", "bbbbbbb", "ccccccc"} {
		w, r := a, b
		if i%2 == 1 {
			w, r = b, a
		}
		u := gitops.SetHead{RepoName: "org/repo", Branch: "main", CommitSHA: commit}
		if _, err := w.SetHead(ctx, u); err != nil {
			t.Fatal(err)
		}
		want := 0
		for _, c := range commits {
			if c != commit {
				want++
			}
		}
		behindOn(r, want)
		behindOn(w, want)
		hs, err := r.Heads(ctx)
		if err != nil || len(hs) != 1 || hs[0].CommitSHA != commit {
			t.Fatalf("set %d: the other replica's Heads = %+v, %v", i, hs, err)
		}
		sv, err := r.Get(ctx, gitops.Key{ServerGroup: "grp", Host: "h0"})
		if err != nil || sv.Desired.CommitSHA != commit {
			t.Fatalf("set %d: Get on the other replica: desired %+v, %v", i, sv.Desired, err)
		}
		mustApply(t, r, pipeline("grp", fmt.Sprintf("x%d", i), commit))
		commits = append(commits, commit)
	}
	if err := b.DeleteHead(ctx, gitops.HeadKey{RepoName: "org/repo", Branch: "main"}); err != nil {
		t.Fatal(err)
	}
	behindOn(a, 0)
	if hs, err := a.Heads(ctx); err != nil || len(hs) != 0 {
		t.Fatalf("Heads after a delete on B: %+v, %v", hs, err)
	}
}
