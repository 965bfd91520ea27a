package sqlite

import (
	"slices"
	"strings"
	"sync"
	"time"

	gitops "github.com/gitops-status/gitops-status"
)

// entry is one server as the index keeps it: its head and what filtering
// and the computed stale need. Entries are immutable once published; the
// writer replaces an entry, it never changes one, so readers use entries
// without a lock.
type entry struct {
	group, host             string
	serverType, environment string
	status                  gitops.Status
	validation              gitops.ValidationStatus
	// lastReport is the newest of last_pipeline_run and last_cron_check.
	lastReport time.Time
	// ownThreshold says staleAfter is the server's own threshold; when
	// false the global one applies (stale_after "" or unparsable), as
	// gitops.Server.StaleThreshold decides.
	ownThreshold bool
	staleAfter   time.Duration
	changedFiles int
	// The two fields that are not in the head, kept so that the writer can
	// rebuild the whole record from an entry.
	imported        bool
	legacyWrittenAt time.Time
	head            []byte
}

func (e *entry) key() gitops.Key { return gitops.Key{ServerGroup: e.group, Host: e.host} }

// stale is gitops.Server.IsStale for the entry's record.
func (e *entry) stale(now time.Time, global time.Duration) bool {
	d := global
	if e.ownThreshold {
		d = e.staleAfter
	}
	if d <= 0 {
		return false
	}
	return now.Sub(e.lastReport) > d
}

func (e *entry) encoded(now time.Time, global time.Duration) gitops.EncodedServer {
	return gitops.EncodedServer{Head: e.head, Stale: e.stale(now, global), ChangedFiles: e.changedFiles}
}

// ownThreshold parses a stale_after value as gitops.Server.StaleThreshold
// does: "" and unparsable values mean the global threshold applies.
func ownThreshold(staleAfter string) (time.Duration, bool) {
	if staleAfter == "" {
		return 0, false
	}
	d, err := time.ParseDuration(staleAfter)
	if err != nil {
		return 0, false
	}
	return d, true
}

func compareKeys(ag, ah, bg, bh string) int {
	if c := strings.Compare(ag, bg); c != 0 {
		return c
	}
	return strings.Compare(ah, bh)
}

func compareEntries(a, b *entry) int { return compareKeys(a.group, a.host, b.group, b.host) }

// interner shares the strings many servers repeat (groups, types,
// environments, statuses), and copies the others, so an entry never keeps
// alive a larger string its fields were cut from (decodeHead's substrings).
// Only the writer uses it.
type interner map[string]string

func (in interner) intern(s string) string {
	if v, ok := in[s]; ok {
		return v
	}
	c := strings.Clone(s)
	in[c] = c
	return c
}

// newEntry builds the entry of sv, whose head is head.
func (in interner) newEntry(sv *gitops.Server, head []byte) *entry {
	d, own := ownThreshold(sv.StaleAfter)
	return &entry{
		group:           in.intern(sv.ServerGroup),
		host:            strings.Clone(sv.Host),
		serverType:      in.intern(sv.ServerType),
		environment:     in.intern(sv.Environment),
		status:          gitops.Status(in.intern(string(sv.Status))),
		validation:      gitops.ValidationStatus(in.intern(string(sv.ValidationStatus))),
		lastReport:      sv.LastReport(),
		ownThreshold:    own,
		staleAfter:      d,
		changedFiles:    len(sv.ChangedFiles),
		imported:        sv.Imported,
		legacyWrittenAt: sv.LegacyWrittenAt,
		head:            head,
	}
}

// index holds an entry for every stored server, kept exactly current by
// the writer: after a batch commits and before its callers hear so, the
// writer publishes the batch's changes (publish). Readers hold mu for
// reading only to copy entry pointers or look one up; they filter and
// encode outside it.
type index struct {
	mu sync.RWMutex
	// entries is sorted by server_group then host, in byte order, as List
	// answers. byKey finds an entry without a search.
	entries []*entry
	byKey   map[gitops.Key]*entry
	// spare is the writer's buffer for the next rebuild of entries.
	spare []*entry
}

func newIndex(entries []*entry) *index {
	slices.SortFunc(entries, compareEntries)
	x := &index{entries: entries, byKey: make(map[gitops.Key]*entry, len(entries))}
	for _, e := range entries {
		x.byKey[e.key()] = e
	}
	return x
}

// get returns the entry of k, or nil.
func (x *index) get(k gitops.Key) *entry {
	x.mu.RLock()
	e := x.byKey[k]
	x.mu.RUnlock()
	return e
}

// lookup is get for the writer, which is the only goroutine that changes
// the index and so needs no lock to read it.
func (x *index) lookup(k gitops.Key) *entry { return x.byKey[k] }

// search returns the position of the first entry at or after (group, host).
func search(entries []*entry, group, host string) int {
	i, _ := slices.BinarySearchFunc(entries, [2]string{group, host}, func(e *entry, k [2]string) int {
		return compareKeys(e.group, e.host, k[0], k[1])
	})
	return i
}

// snapshot appends to dst the entries a filter on groups may match, in
// order: every entry when groups is empty, else those of each group.
func (x *index) snapshot(dst []*entry, groups []string) []*entry {
	if len(groups) > 1 {
		groups = slices.Clone(groups)
		slices.Sort(groups)
		groups = slices.Compact(groups)
	}
	x.mu.RLock()
	defer x.mu.RUnlock()
	if len(groups) == 0 {
		return append(dst, x.entries...)
	}
	for _, g := range groups {
		lo := search(x.entries, g, "")
		hi := lo
		for hi < len(x.entries) && x.entries[hi].group == g {
			hi++
		}
		dst = append(dst, x.entries[lo:hi]...)
	}
	return dst
}

// change is one server's new entry, or its removal when e is nil.
type change struct {
	k gitops.Key
	e *entry
}

// edit is one change of the sorted entries, at a position of the current
// slice: insert e before entries[pos], or replace entries[pos] by e
// (removing it when e is nil).
type edit struct {
	pos    int
	insert bool
	e      *entry
}

// publish applies a committed batch's final state by key (nil = deleted).
// Replacing entries of existing servers swaps pointers in place. Adding or
// removing servers builds the new sorted slice outside the lock, copying
// the runs between edits, so a batch that creates many servers costs one
// pass over the index, not one per server; the slice it replaces, emptied,
// becomes the next build's buffer, since readers copy what they need under
// the lock and keep no reference to it.
func (x *index) publish(final map[gitops.Key]*entry) {
	if len(final) == 0 {
		return
	}
	edits := make([]edit, 0, len(final))
	resize := false
	for k, e := range final {
		old := x.byKey[k]
		if old == nil && e == nil {
			continue // created and deleted in the same batch
		}
		pos := search(x.entries, k.ServerGroup, k.Host)
		edits = append(edits, edit{pos: pos, insert: old == nil, e: e})
		resize = resize || old == nil || e == nil
	}
	if !resize {
		x.mu.Lock()
		for _, ed := range edits {
			x.entries[ed.pos] = ed.e
			x.byKey[ed.e.key()] = ed.e
		}
		x.mu.Unlock()
		return
	}
	// Inserts before an existing entry come before its own edit; inserts at
	// one position go in key order.
	slices.SortFunc(edits, func(a, b edit) int {
		if a.pos != b.pos {
			return a.pos - b.pos
		}
		if a.insert != b.insert {
			if a.insert {
				return -1
			}
			return 1
		}
		return compareEntries(a.e, b.e)
	})
	merged := x.spare[:0]
	prev := 0
	for _, ed := range edits {
		merged = append(merged, x.entries[prev:ed.pos]...)
		prev = ed.pos
		if !ed.insert {
			prev++ // the current entry at pos is replaced or removed
		}
		if ed.e != nil {
			merged = append(merged, ed.e)
		}
	}
	merged = append(merged, x.entries[prev:]...)

	x.mu.Lock()
	old := x.entries
	x.entries = merged
	for _, ed := range edits {
		if ed.e != nil {
			x.byKey[ed.e.key()] = ed.e
		}
	}
	for k, e := range final {
		if e == nil {
			delete(x.byKey, k)
		}
	}
	x.mu.Unlock()
	clear(old) // entries replaced from now on must not stay alive through it
	x.spare = old[:0]
}

// reset replaces the whole index, as after loading it again.
func (x *index) reset(entries []*entry) {
	y := newIndex(entries)
	x.mu.Lock()
	x.entries, x.byKey, x.spare = y.entries, y.byKey, nil
	x.mu.Unlock()
}

// matches reports whether e passes every condition of f but Stale.
func matches(e *entry, f *gitops.Filter) bool {
	return (len(f.ServerGroup) == 0 || slices.Contains(f.ServerGroup, e.group)) &&
		(len(f.Host) == 0 || slices.Contains(f.Host, e.host)) &&
		(len(f.ServerType) == 0 || slices.Contains(f.ServerType, e.serverType)) &&
		(len(f.Environment) == 0 || slices.Contains(f.Environment, e.environment)) &&
		(len(f.Status) == 0 || slices.Contains(f.Status, e.status)) &&
		(len(f.ValidationStatus) == 0 || slices.Contains(f.ValidationStatus, e.validation))
}

// scratch recycles the slices ListEncoded copies entry pointers into.
var scratch = sync.Pool{New: func() any { return new([]*entry) }}

// list answers ListEncoded from the index at now.
func (x *index) list(f gitops.Filter, now time.Time, global time.Duration) ([]gitops.EncodedServer, int) {
	bufp := scratch.Get().(*[]*entry)
	cand := x.snapshot((*bufp)[:0], f.ServerGroup)
	// Filter in place: cand[:n] are the matches, in order.
	n := 0
	for _, e := range cand {
		if !matches(e, &f) {
			continue
		}
		if f.Stale != nil && e.stale(now, global) != *f.Stale {
			continue
		}
		cand[n] = e
		n++
	}
	page := cand[min(max(f.Offset, 0), n):n]
	if f.Limit > 0 && len(page) > f.Limit {
		page = page[:f.Limit]
	}
	out := make([]gitops.EncodedServer, len(page))
	for i, e := range page {
		out[i] = e.encoded(now, global)
	}
	clear(cand) // let replaced entries go
	*bufp = cand[:0]
	scratch.Put(bufp)
	return out, n
}
