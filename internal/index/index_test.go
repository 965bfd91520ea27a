package index

import (
	"bytes"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	gitops "github.com/gitops-status/gitops-status"
)

// TestPublish applies random batches of creates, replacements and
// deletions to an index and to a plain map, and checks that the index
// holds exactly the map's entries, sorted and found by key, after every
// batch: with the seeded hash, and with one under which most keys collide.
func TestPublish(t *testing.T) {
	t.Run("seeded hash", func(t *testing.T) { testPublish(t, nil) })
	t.Run("colliding hash", func(t *testing.T) {
		testPublish(t, func(k gitops.Key) uint64 { return uint64(len(k.ServerGroup) + int(k.Host[len(k.Host)-1])%3) })
	})
}

func testPublish(t *testing.T, sum func(gitops.Key) uint64) {
	rng := rand.New(rand.NewPCG(1, 2))
	in := NewInterner()
	x := New(nil)
	x.keys.sum = sum
	collided := 0
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
				final[k] = keyEntry(in, k, batch)
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
		if !slices.EqualFunc(x.entries, want, sameEntry) {
			t.Fatalf("batch %d: entries differ from the model:\n  got  %v\n  want %v", batch, keysOfEntries(x.entries), keysOfEntries(want))
		}
		for g := range 4 {
			for h := range 40 {
				k := gitops.Key{ServerGroup: fmt.Sprintf("g%d", g), Host: fmt.Sprintf("h%02d", h)}
				if got := x.Get(k); (got == nil) != (model[k] == nil) || got != nil && !sameEntry(got, model[k]) {
					t.Fatalf("batch %d: Get(%v) = %v, want %v", batch, k, got, model[k])
				}
			}
		}
		if n := len(x.keys.slot) + len(x.keys.collided); n != len(model) {
			t.Fatalf("batch %d: the key map holds %d keys, want %d", batch, n, len(model))
		}
		if n := len(x.keys.entries) - len(x.keys.free); n != len(x.keys.slot) {
			t.Fatalf("batch %d: %d slots in use for %d hashes", batch, n, len(x.keys.slot))
		}
		for _, s := range x.keys.free {
			if x.keys.entries[s] != nil {
				t.Fatalf("batch %d: free slot %d keeps a deleted entry alive", batch, s)
			}
		}
		collided = max(collided, len(x.keys.collided))
		if all := x.spare[:cap(x.spare)]; slices.ContainsFunc(all, func(e *Entry) bool { return e != nil }) {
			t.Fatalf("batch %d: the spare buffer keeps entries alive", batch)
		}
	}
	if sum != nil && collided == 0 {
		t.Fatal("no key ever collided: the test did not reach the collision path")
	}
}

// sameEntry reports whether a and b hold the same record: a compaction
// may have moved one of them.
func sameEntry(a, b *Entry) bool {
	return a.Key() == b.Key() && a.ChangedFiles == b.ChangedFiles && bytes.Equal(a.Head(), b.Head())
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
	in := NewInterner()
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
		var e *Entry
		if i%3 != 0 {
			e = in.NewEntry(&sv, sv.AppendJSONHead(nil))
		}
		if i%3 == 0 { // strings of their own, as past maxAttrs
			e = inlineEntry(t, in, &sv)
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
// its characters, escaped in the head or not, and whether the entry holds
// it inside itself (up to 32 bytes) or not.
func TestEntryHost(t *testing.T) {
	for _, host := range []string{"web-01.example.net", "", `we"b`, `a\b`, "a<b&c", "tab\there", "hôte-é",
		strings.Repeat("h", 32), strings.Repeat("h", 33), "db-01.eu-west-1.prod.internal.example.com"} {
		sv := gitops.Server{ServerGroup: "g", Host: host, Labels: map[string]string{"a": "1", "host": host + "x"}}
		if e := NewInterner().NewEntry(&sv, sv.AppendJSONHead(nil)); e.Host() != host {
			t.Errorf("host %q: the entry's host is %q", host, e.Host())
		}
	}
}

// TestInternerSharesAttrs checks that servers with the same group, type,
// environment, repository, branch and statuses share one attrs, across
// Interners too, that any difference gets its own, and that past maxAttrs
// combinations an entry still gets its own fields right, unshared.
func TestInternerSharesAttrs(t *testing.T) {
	in := NewInterner()
	entry := func(host string, status gitops.Status) *Entry {
		sv := gitops.Server{ServerGroup: "web", Host: host, ServerType: "nginx", Environment: "prod",
			RepoName: "ansible-nginx", Branch: "main", Status: status, ValidationStatus: gitops.ValidationPassed}
		return in.NewEntry(&sv, sv.AppendJSONHead(nil))
	}
	a, b, c := entry("a", gitops.StatusSynced), entry("b", gitops.StatusSynced), entry("c", gitops.StatusOutOfSync)
	if a.attrID != b.attrID || a.attrID == inlineAttrs {
		t.Error("two servers of one combination do not share their attrs")
	}
	if a.attrID == c.attrID || c.attrs().status != gitops.StatusOutOfSync || a.attrs().status != gitops.StatusSynced {
		t.Errorf("a server of another status shares its attrs or has the wrong status: %q, %q", a.attrs().status, c.attrs().status)
	}
	sv := gitops.Server{ServerGroup: "web", Host: "d", ServerType: "nginx", Environment: "prod",
		RepoName: "ansible-nginx", Branch: "main", Status: gitops.StatusSynced, ValidationStatus: gitops.ValidationPassed}
	if d := NewInterner().NewEntry(&sv, sv.AppendJSONHead(nil)); d.attrID != a.attrID {
		t.Error("another Interner does not share the registered attrs")
	}

	f := inlineEntry(t, in, &gitops.Server{ServerGroup: "web", Host: "f", ServerType: "nginx", Environment: "prod",
		RepoName: "ansible-nginx", Branch: "main", Status: gitops.StatusFailed, ValidationStatus: gitops.ValidationFailed})
	want := attrs{group: "web", serverType: "nginx", environment: "prod", repoName: "ansible-nginx", branch: "main",
		status: gitops.StatusFailed, validation: gitops.ValidationFailed}
	if f.attrID != inlineAttrs || *f.attrs() != want || f.group() != "web" || f.Host() != "f" {
		t.Errorf("past the bound, an entry's fields are %+v (id %d), want %+v", *f.attrs(), f.attrID, want)
	}
	if sv, err := f.Decode(); err != nil || sv.Host != "f" || sv.Status != gitops.StatusFailed {
		t.Errorf("past the bound, the entry decodes to %+v, %v", sv, err)
	}
}

// inlineEntry is in's entry of sv made as past maxAttrs combinations:
// with attrs of its own.
func inlineEntry(t *testing.T, in *Interner, sv *gitops.Server) *Entry {
	t.Helper()
	registry.mu.Lock()
	registry.max = 0
	registry.mu.Unlock()
	defer func() {
		registry.mu.Lock()
		registry.max = maxAttrs
		registry.mu.Unlock()
	}()
	// An Interner of its own, since in may know the combination already.
	e := NewInterner().NewEntry(sv, sv.AppendJSONHead(nil))
	if e.attrID != inlineAttrs {
		t.Fatalf("%v: attrs shared past the bound", sv.Key())
	}
	return e
}

// keyEntry is an entry of k whose changed-file count is files, from in.
func keyEntry(in *Interner, k gitops.Key, files int) *Entry {
	sv := gitops.Server{ServerGroup: k.ServerGroup, Host: k.Host}
	e := in.NewEntry(&sv, sv.AppendJSONHead(nil))
	e.ChangedFiles = files
	return e
}

// TestMerge checks that merging sorted parts gives every entry once, in
// key order, whatever the number of parts (odd, one, none, some empty) and
// however their keys interleave, and that New keeps such a slice's order.
func TestMerge(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	in := NewInterner()
	for _, nparts := range []int{0, 1, 2, 3, 5, 8} {
		var parts [][]*Entry
		var all []*Entry
		for p := range nparts {
			var part []*Entry
			for range rng.IntN(50) * (p % 3) { // every third part is empty
				k := gitops.Key{ServerGroup: fmt.Sprintf("g%d", rng.IntN(3)), Host: fmt.Sprintf("h%04d", rng.IntN(10000))}
				part = append(part, keyEntry(in, k, 0))
			}
			Sort(part)
			parts = append(parts, part)
			all = append(all, part...)
		}
		got := Merge(parts)
		want := slices.Clone(all)
		slices.SortStableFunc(want, compareEntries)
		if len(got) != len(want) {
			t.Fatalf("%d parts: merged %d entries, want %d", nparts, len(got), len(want))
		}
		if !slices.IsSortedFunc(got, compareEntries) {
			t.Fatalf("%d parts: merged entries are not in key order: %v", nparts, keysOfEntries(got))
		}
		for _, e := range all {
			if !slices.Contains(got, e) {
				t.Fatalf("%d parts: entry %s lost in the merge", nparts, e.Key())
			}
		}
		if x := New(got); !slices.Equal(x.entries, got) {
			t.Fatalf("%d parts: New reordered sorted entries", nparts)
		}
	}
}
