package index

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

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

// TestListDesiredNeighbours lists records whose repos and branches
// alternate, some of them not interned, and checks each record's desired
// fields against the heads looked up on their own: a list remembers the
// last head it matched, and must not give it to a different neighbour.
func TestListDesiredNeighbours(t *testing.T) {
	in := Interner{}
	heads := gitops.NewHeads([]gitops.Head{
		{RepoName: "org/rsyslog", Branch: "master", CommitSHA: "aaaaaaaa11"},
		{RepoName: "nginx", Branch: "master", CommitSHA: "bbbbbbbb22"},
		{RepoName: "nginx", Branch: "next", CommitSHA: "cccccccc33"},
	})
	recs := []struct{ repo, branch, commit string }{
		{"rsyslog", "master", "aaaaaaa"}, {"nginx", "master", "aaaaaaa"}, {"nginx", "master", "bbbbbbbb22"},
		{"nginx", "next", "bbbbbbbb22"}, {"rsyslog", "next", "aaaaaaa"}, {"rsyslog", "master", "0000000"},
		{"nginx", "mast", ""}, {"nginx", "master", ""}, {"", "master", "aaaaaaa"}, {"org/rsyslog", "master", "AAAAAAAA11"},
	}
	final := map[gitops.Key]*Entry{}
	for i, r := range recs {
		sv := gitops.Server{ServerGroup: "g", Host: fmt.Sprintf("h%02d", i), RepoName: r.repo, Branch: r.branch, CommitSHA: r.commit}
		e := in.NewEntry(&sv, sv.AppendJSONHead(nil))
		if i%3 == 0 { // a string of its own, as a decoded record's may be
			e.repoName, e.branch = string([]byte(r.repo)), string([]byte(r.branch))
		}
		final[sv.Key()] = e
	}
	x := New(nil)
	x.Publish(final)
	out, n := x.List(gitops.Filter{}, time.Now(), time.Hour, heads)
	if n != len(recs) {
		t.Fatalf("listed %d, want %d", n, len(recs))
	}
	for i, r := range recs {
		want := heads.Desired(r.repo, r.branch, r.commit)
		if got := out[i].Desired(); got != want {
			t.Errorf("%s/%s at %q: desired %+v, want %+v", r.repo, r.branch, r.commit, got, want)
		}
	}
	behind := true
	_, nb := x.List(gitops.Filter{Behind: &behind}, time.Now(), time.Hour, heads)
	wantBehind := 0
	for _, r := range recs {
		if heads.Desired(r.repo, r.branch, r.commit).Behind {
			wantBehind++
		}
	}
	if nb != wantBehind || wantBehind == 0 {
		t.Errorf("behind=true lists %d, want %d (>0)", nb, wantBehind)
	}
}

// TestEntryHost checks that an entry's host is the record's host whatever
// its characters, escaped in the head or not.
func TestEntryHost(t *testing.T) {
	for _, host := range []string{"web-01.example.net", "", `we"b`, `a\b`, "a<b&c", "tab\there", "hôte-é"} {
		sv := gitops.Server{ServerGroup: "g", Host: host, Labels: map[string]string{"a": "1", "host": host + "x"}}
		if e := (Interner{}).NewEntry(&sv, sv.AppendJSONHead(nil)); e.host != host {
			t.Errorf("host %q: the entry's host is %q", host, e.host)
		}
	}
}
