package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	gitops "github.com/gitops-status/gitops-status"
)

// testDesired checks heads of branches (SPEC §10): set, list, delete and
// import them, the out-of-order rule, and the desired fields every read of
// a record computes from them.
func (h *harness) testDesired(t *testing.T) {
	t.Run("SetListDelete", func(t *testing.T) {
		e := h.newEnv(t, 0)
		if l := e.heads(); len(l) != 0 {
			t.Fatalf("a new store has heads %+v", l)
		}
		o := e.setHead(gitops.SetHead{RepoName: "org/rsyslog", Branch: "master", CommitSHA: sha(1), UpdatedBy: "github"})
		want := gitops.Head{RepoName: "org/rsyslog", Branch: "master", CommitSHA: sha(1), UpdatedAt: T0, UpdatedBy: "github"}
		if !o.Applied || o.Head != want {
			t.Fatalf("SetHead = %+v, want applied %+v", o, want)
		}
		e.clock.Advance(time.Minute)
		e.setHead(gitops.SetHead{RepoName: "a", Branch: "z", CommitSHA: sha(2)})
		e.setHead(gitops.SetHead{RepoName: "a", Branch: "feature/x", CommitSHA: sha(3)})
		if got := e.heads(); len(got) != 3 || got[0].Branch != "feature/x" || got[1].Branch != "z" || got[2] != want {
			t.Fatalf("Heads = %+v, want a feature/x, a z, then %+v", got, want)
		}
		// The same commit again keeps updated_at: the branch did not move.
		e.clock.Advance(time.Minute)
		if o := e.setHead(gitops.SetHead{RepoName: "org/rsyslog", Branch: "master", CommitSHA: sha(1)}); !o.Head.UpdatedAt.Equal(T0) {
			t.Fatalf("same commit again: updated_at %s, want %s", o.Head.UpdatedAt, T0)
		}
		if err := e.s.DeleteHead(e.ctx, gitops.HeadKey{RepoName: "a", Branch: "z"}); err != nil {
			t.Fatal(err)
		}
		wantCode(t, "DeleteHead of a deleted head", e.s.DeleteHead(e.ctx, gitops.HeadKey{RepoName: "a", Branch: "z"}), gitops.ENOTFOUND)
		if got := e.heads(); len(got) != 2 {
			t.Fatalf("Heads after delete = %+v, want 2", got)
		}
	})

	t.Run("Events", func(t *testing.T) {
		e := h.newEnv(t, 0)
		e.apply(pipeline("g", "h", gitops.StatusSynced, sha(1)))
		e.clock.Advance(time.Minute)
		o := e.setHead(gitops.SetHead{RepoName: "org/rsyslog", Branch: "master", CommitSHA: sha(2), UpdatedBy: "github:alice"})
		e.clock.Advance(time.Minute)
		e.setHead(gitops.SetHead{RepoName: "org/rsyslog", Branch: "master", CommitSHA: sha(2)}) // the same commit: no event
		e.clock.Advance(time.Minute)
		e.setHead(gitops.SetHead{RepoName: "org/rsyslog", Branch: "master", CommitSHA: sha(3)})
		evs := e.events(gitops.EventFilter{})
		if len(evs) != 3 {
			t.Fatalf("events %+v, want the server's and two desired events", evs)
		}
		want := []gitops.Event{
			{ID: evs[0].ID, Time: gitops.Time{Time: T0.Add(3 * time.Minute)}, Source: gitops.SourceGit, RepoName: "org/rsyslog", Branch: "master",
				CommitSHA: sha(3), ChangedFiles: []string{}, Changes: []gitops.Change{gitops.ChangeCommitSHA}},
			{ID: o.Event.ID, Time: gitops.Time{Time: T0.Add(time.Minute)}, Source: gitops.SourceGit, RepoName: "org/rsyslog", Branch: "master",
				CommitSHA: sha(2), UpdatedBy: "github:alice", ChangedFiles: []string{}, Changes: []gitops.Change{gitops.ChangeCreated}},
		}
		for i, w := range want {
			if d := diffEvent(evs[i], w, false); d != "" {
				t.Errorf("desired event %d:\n%s", i, d)
			}
		}
		if o.Event.ID == 0 || evs[0].ID <= evs[1].ID || evs[1].ID <= evs[2].ID {
			t.Errorf("event ids %d %d %d (SetHead said %d): want rising, the desired event's id returned", evs[0].ID, evs[1].ID, evs[2].ID, o.Event.ID)
		}
		if l := e.events(gitops.EventFilter{ServerGroup: []string{"g"}}); len(l) != 1 || l[0].Source == gitops.SourceGit {
			t.Errorf("events of group g: %+v, want only the server's", l)
		}
		if l := e.events(gitops.EventFilter{ServerGroup: []string{"g"}, Host: "h"}); len(l) != 1 {
			t.Errorf("the server's history: %+v, want its own event only", l)
		}
	})

	t.Run("OutOfOrder", func(t *testing.T) {
		e := h.newEnv(t, 0)
		e.setHead(gitops.SetHead{RepoName: "r", Branch: "b", CommitSHA: sha(1), ReportedAt: T0})
		e.clock.Advance(time.Minute)
		o := e.setHead(gitops.SetHead{RepoName: "r", Branch: "b", CommitSHA: sha(2), ReportedAt: T0.Add(-time.Second)})
		if o.Applied || len(o.Warnings) != 1 || o.Head.CommitSHA != sha(1) {
			t.Fatalf("older reported_at: %+v, want not applied with the stored head", o)
		}
		if got := e.heads(); got[0].CommitSHA != sha(1) {
			t.Fatalf("an older set changed the head: %+v", got)
		}
		if o := e.setHead(gitops.SetHead{RepoName: "r", Branch: "b", CommitSHA: sha(3)}); !o.Applied {
			t.Fatalf("a set without reported_at: %+v, want applied", o)
		}
	})

	t.Run("ComputedOnRead", func(t *testing.T) {
		e := h.newEnv(t, 0)
		// rsyslog-config servers at sha(1) on main; one on another branch,
		// one of another repo.
		for i := range 3 {
			e.apply(pipeline("g", fmt.Sprintf("h%d", i), gitops.StatusSynced, sha(1)))
		}
		other := pipeline("g", "other-branch", gitops.StatusSynced, sha(1))
		other.Branch = "develop"
		e.apply(other)
		repo := pipeline("g", "other-repo", gitops.StatusSynced, sha(1))
		repo.RepoName = "nginx"
		e.apply(repo)
		short := pipeline("g", "short-sha", gitops.StatusSynced, sha(2)[:7])
		e.apply(short)
		none := pipeline("g", "no-commit", gitops.StatusSynced, "")
		e.apply(none)
		e.checkDesired(map[string]gitops.Desired{})

		e.clock.Advance(time.Hour)
		pushed := T0.Add(time.Hour)
		e.setHead(gitops.SetHead{RepoName: "org/rsyslog-config", Branch: "main", CommitSHA: sha(2)})
		behind := gitops.Desired{CommitSHA: sha(2), Behind: true, BehindSince: pushed}
		e.checkDesired(map[string]gitops.Desired{
			"h0": behind, "h1": behind, "h2": behind, "no-commit": behind,
			"short-sha": {CommitSHA: sha(2)},
		})
		// A pipeline of the new commit catches up.
		e.clock.Advance(time.Minute)
		o := e.apply(pipeline("g", "h1", gitops.StatusSynced, sha(2)))
		if o.Server.Desired != (gitops.Desired{CommitSHA: sha(2)}) {
			t.Fatalf("Apply's answer has desired %+v, want on the head", o.Server.Desired)
		}
		e.checkDesired(map[string]gitops.Desired{
			"h0": behind, "h1": {CommitSHA: sha(2)}, "h2": behind, "no-commit": behind,
			"short-sha": {CommitSHA: sha(2)},
		})
		if err := e.s.DeleteHead(e.ctx, gitops.HeadKey{RepoName: "org/rsyslog-config", Branch: "main"}); err != nil {
			t.Fatal(err)
		}
		e.checkDesired(map[string]gitops.Desired{})
	})

	t.Run("Import", func(t *testing.T) {
		e := h.newEnv(t, 0)
		e.setHead(gitops.SetHead{RepoName: "keep", Branch: "main", CommitSHA: sha(1)})
		e.setHead(gitops.SetHead{RepoName: "r", Branch: "main", CommitSHA: sha(1)})
		in := []gitops.Head{
			{RepoName: "r", Branch: "main", CommitSHA: sha(2), UpdatedAt: T0.Add(-time.Hour), UpdatedBy: "gitlab", ReportedAt: T0.Add(-2 * time.Hour)},
			{RepoName: "new", Branch: "dev", CommitSHA: sha(3), UpdatedAt: T0.Add(-time.Hour)},
		}
		if err := e.s.ImportHeads(e.ctx, in); err != nil {
			t.Fatal(err)
		}
		got := e.heads()
		if len(got) != 3 || got[0].RepoName != "keep" || got[1] != in[1] || got[2] != in[0] {
			t.Fatalf("Heads after import = %+v, want keep, then as imported %+v", got, in)
		}
	})

	t.Run("Concurrent", func(t *testing.T) {
		c := NewClock(T0, time.Microsecond)
		s := h.open(t, gitops.StoreOptions{Now: c.Now})
		e := &env{t: t, s: s, clock: c, ctx: t.Context()}
		var wg sync.WaitGroup
		created := make(chan bool, 16)
		for i := range 16 {
			wg.Go(func() {
				o, err := s.SetHead(e.ctx, gitops.SetHead{RepoName: "r", Branch: "b", CommitSHA: sha(100 + i)})
				if err != nil {
					t.Error(err)
					return
				}
				created <- o.Event != nil && o.Event.Changes[0] == gitops.ChangeCreated
			})
		}
		wg.Wait()
		close(created)
		n := 0
		for c := range created {
			if c {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("%d concurrent sets of a new head created it, want exactly 1", n)
		}
	})
}

func (e *env) setHead(u gitops.SetHead) gitops.HeadOutcome {
	e.t.Helper()
	if err := u.Validate(); err != nil {
		e.t.Fatal(err)
	}
	o, err := e.s.SetHead(e.ctx, u)
	if err != nil {
		e.t.Fatalf("SetHead(%s): %v", u.Key(), err)
	}
	return o
}

func (e *env) heads() []gitops.Head {
	e.t.Helper()
	l, err := e.s.Heads(e.ctx)
	if err != nil {
		e.t.Fatalf("Heads: %v", err)
	}
	return l
}

// checkDesired checks the desired fields of every server of group g on
// every read (Get, List, the behind filter, the encoded and sample
// readers): want by host, nothing for hosts it leaves out.
func (e *env) checkDesired(want map[string]gitops.Desired) {
	e.t.Helper()
	all, _ := e.list(gitops.Filter{})
	nBehind := 0
	for _, s := range all {
		w := want[s.Host]
		if w.Behind {
			nBehind++
		}
		if s.Desired != w {
			e.t.Errorf("List: %s desired %+v, want %+v", s.Key(), s.Desired, w)
		}
		if g := e.get(s.ServerGroup, s.Host); g.Desired != w {
			e.t.Errorf("Get: %s desired %+v, want %+v", s.Key(), g.Desired, w)
		}
	}
	for _, b := range []bool{true, false} {
		l, total := e.list(gitops.Filter{Behind: &b, Limit: 2})
		wantTotal := nBehind
		if !b {
			wantTotal = len(all) - nBehind
		}
		if total != wantTotal || len(l) != min(2, wantTotal) {
			e.t.Errorf("List(behind=%v, limit 2): %d of %d, want %d of %d", b, len(l), total, min(2, wantTotal), wantTotal)
		}
		for _, s := range l {
			if s.Desired.Behind != b {
				e.t.Errorf("List(behind=%v) returned %s with behind %v", b, s.Key(), s.Desired.Behind)
			}
		}
	}
	if er, ok := e.s.(gitops.EncodedReader); ok {
		for _, s := range all {
			es, err := er.GetEncoded(e.ctx, s.Key())
			if err != nil || es.Desired() != want[s.Host] {
				e.t.Errorf("GetEncoded: %s desired %+v (%v), want %+v", s.Key(), es.Desired(), err, want[s.Host])
			}
		}
		b := true
		l, total, err := er.ListEncoded(e.ctx, gitops.Filter{Behind: &b})
		if err != nil || total != nBehind || len(l) != nBehind {
			e.t.Errorf("ListEncoded(behind=true): %d of %d (%v), want %d", len(l), total, err, nBehind)
		}
	}
	if sr, ok := e.s.(gitops.SampleReader); ok {
		err := sr.ReadSamples(e.ctx, func(v gitops.Samples) error {
			var s gitops.ServerSample
			for i := range v.Len() {
				v.At(i, &s)
				if s.Desired != want[s.Host] {
					e.t.Errorf("ReadSamples: %s/%s desired %+v, want %+v", s.ServerGroup, s.Host, s.Desired, want[s.Host])
				}
			}
			return nil
		})
		if err != nil {
			e.t.Fatal(err)
		}
	}
}
