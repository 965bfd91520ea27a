package gitops

// The heads as reads use them: one immutable lookup per set of heads, the
// computed desired fields of each record, and their encoded tails.

import (
	"context"
	"slices"
	"strings"
	"time"
)

// Desired is what a record's computed desired_commit_sha, behind and
// behind_since say.
type Desired struct {
	CommitSHA   string
	Behind      bool
	BehindSince time.Time
}

// Heads finds the head a record matches, for computing Desired on read.
// It is immutable once built, so readers share it without a lock; stores
// build a new one when a head changes. The nil *Heads has no head.
type Heads struct {
	// byName maps each name a record's repo_name may carry to match, with
	// the branch, to the head it matches (its index in list): one lookup
	// per record.
	byName map[HeadKey]int
	list   []Head
	// tails holds, by head (index in list), its desired fields and their
	// JSON as a record's tail writes them: [0] on the head, [1] behind it.
	tails [][2]DesiredTail
}

// DesiredTail is a record's desired fields with their JSON as a record's
// tail writes them. Encoded answers point at one built per head, so a
// list costs a pointer per record, not a copy of the fields (a list of
// 10,000 larger records was measurably slower to build and collect).
type DesiredTail struct {
	Desired
	JSON string
}

// NewDesiredTail builds the tail of d, for records not read through Heads;
// nil for the zero Desired (no head matches).
func NewDesiredTail(d Desired) *DesiredTail {
	if d == (Desired{}) {
		return nil
	}
	return &DesiredTail{Desired: d, JSON: string(appendDesired(nil, d))}
}

// NewHeads builds the lookup of heads. A record matches a head when its
// repo_name equals the head's or the last '/'-segment of it (a push names
// the repository "org/rsyslog", the pipeline "rsyslog"). When several heads
// match one record, the one whose repo_name equals it wins, else the most
// recently updated, else the first by repo_name: a rule that is the same
// on every replica.
func NewHeads(heads []Head) *Heads {
	h := &Heads{byName: make(map[HeadKey]int, 2*len(heads)), list: slices.Clone(heads)}
	SortHeads(h.list)
	h.tails = make([][2]DesiredTail, len(h.list))
	for i := range h.list {
		hd := &h.list[i]
		h.tails[i] = [2]DesiredTail{
			*NewDesiredTail(Desired{CommitSHA: hd.CommitSHA}),
			*NewDesiredTail(Desired{CommitSHA: hd.CommitSHA, Behind: true, BehindSince: hd.UpdatedAt}),
		}
	}
	for i := range h.list {
		h.byName[h.list[i].Key()] = i // exact matches win over any segment match
	}
	for i := range h.list {
		hd := &h.list[i]
		seg := lastSegment(hd.RepoName)
		if seg == hd.RepoName {
			continue
		}
		k := HeadKey{seg, hd.Branch}
		j, ok := h.byName[k]
		if !ok || (h.list[j].RepoName != seg && hd.UpdatedAt.After(h.list[j].UpdatedAt)) {
			h.byName[k] = i
		}
	}
	return h
}

func lastSegment(name string) string {
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		return name[i+1:]
	}
	return name
}

// List returns the heads sorted by repo_name then branch. The slice is
// shared: callers must not change it.
func (h *Heads) List() []Head {
	if h == nil {
		return nil
	}
	return h.list
}

// Len is the number of heads.
func (h *Heads) Len() int {
	if h == nil {
		return 0
	}
	return len(h.list)
}

// Match returns the head a record of repo and branch matches, or nil.
func (h *Heads) Match(repo, branch string) *Head {
	if i := h.match(repo, branch); i >= 0 {
		return &h.list[i]
	}
	return nil
}

// match is the index in h.list of the head a record matches, or -1.
func (h *Heads) match(repo, branch string) int {
	if h == nil || len(h.byName) == 0 || repo == "" || branch == "" {
		return -1
	}
	if i, ok := h.byName[HeadKey{repo, branch}]; ok {
		return i
	}
	return -1
}

// Desired computes a record's desired fields: the matching head's commit,
// behind when the record's commit is a different one (or none), and since
// when (the head's updated_at).
func (h *Heads) Desired(repo, branch, commit string) Desired {
	hd := h.Match(repo, branch)
	if hd == nil {
		return Desired{}
	}
	d := Desired{CommitSHA: hd.CommitSHA}
	if !SameCommit(commit, hd.CommitSHA) {
		d.Behind, d.BehindSince = true, hd.UpdatedAt
	}
	return d
}

// Tail is the desired tail of a record of repo and branch, nil when no
// head matches. commit is called only when one does: reading a record's
// commit costs a cache miss that most records of most fleets need not pay.
func (h *Heads) Tail(repo, branch string, commit func() string) *DesiredTail {
	return h.TailAt(h.match(repo, branch), commit)
}

// Lookup is the head a record of repo and branch matches, for TailAt: -1
// when none does.
func (h *Heads) Lookup(repo, branch string) int { return h.match(repo, branch) }

// PairAt is the two tails of the head Lookup found, [0] on it and [1]
// behind it; nil for -1. EncodedServer decides between them when it is
// appended.
func (h *Heads) PairAt(i int) *[2]DesiredTail {
	if i < 0 {
		return nil
	}
	return &h.tails[i]
}

// TailAt is Tail for the head Lookup found.
func (h *Heads) TailAt(i int, commit func() string) *DesiredTail {
	if i < 0 {
		return nil
	}
	if SameCommit(commit(), h.list[i].CommitSHA) {
		return &h.tails[i][0]
	}
	return &h.tails[i][1]
}

// FillDesired sets s's computed desired fields from h.
func (h *Heads) FillDesired(s *Server) {
	s.Desired = h.Desired(s.RepoName, s.Branch, s.CommitSHA)
}

// ListBehind answers a List filtered on behind for stores that filter the
// other conditions in SQL: behind is computed from the heads, not stored,
// so list lists every server matching the rest of f, and PageBehind
// filters and pages.
func ListBehind(ctx context.Context, f Filter, list func(context.Context, Filter) ([]Server, int, error)) ([]Server, int, error) {
	all := f
	all.Behind, all.Limit, all.Offset = nil, 0, 0
	servers, _, err := list(ctx, all)
	if err != nil {
		return nil, 0, err
	}
	page, total := PageBehind(servers, *f.Behind, f.Limit, f.Offset)
	return page, total, nil
}

// PageBehind is the behind filter and paging of a List for stores that
// filter the other conditions in SQL: it keeps the servers (Desired filled
// in) whose behind equals behind, and returns the page limit and offset
// select with the number kept.
func PageBehind(servers []Server, behind bool, limit, offset int) ([]Server, int) {
	kept := servers[:0]
	for i := range servers {
		if servers[i].Desired.Behind == behind {
			kept = append(kept, servers[i])
		}
	}
	total := len(kept)
	page := kept[min(max(offset, 0), total):]
	if limit > 0 && len(page) > limit {
		page = page[:limit]
	}
	return page, total
}

// ReplaceHead returns list with the head of k replaced by h (added when
// absent; removed when h is nil), for stores keeping their heads' list.
func ReplaceHead(list []Head, h *Head, k HeadKey) []Head {
	out := make([]Head, 0, len(list)+1)
	for _, x := range list {
		if x.Key() != k {
			out = append(out, x)
		}
	}
	if h != nil {
		out = append(out, *h)
	}
	return out
}
