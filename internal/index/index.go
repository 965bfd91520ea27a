// Package index keeps every stored server as its encoded head plus what
// filtering and the computed stale field need, sorted by key, so that a
// store answers GetEncoded and ListEncoded without a query or an encoding.
// One goroutine (a store's writer) changes it; any number read it.
package index

import (
	"slices"
	"sync"
	"time"
	"unsafe"

	gitops "github.com/gitops-status/gitops-status"
)

// Index holds an entry for every stored server, kept exactly current by
// the writer: after a batch commits and before its callers hear so, the
// writer publishes the batch's changes (Publish). Readers hold mu for
// reading only to copy entry pointers or look one up; they filter and
// encode outside it.
type Index struct {
	mu sync.RWMutex
	// entries is sorted by server_group then host, in byte order, as List
	// answers. keys finds an entry without a search.
	entries []*Entry
	keys    keyMap
	// spare is the writer's buffer for the next rebuild of entries.
	spare []*Entry
	// chunks, arena, dropped and queue are the writer's, to keep the
	// chunks the entries live in from filling with dead records (compact).
	// chunks holds, by its start, each chunk some entry is in (which keeps
	// it alive) and the bytes of the entries in it.
	chunks  map[unsafe.Pointer]uint32
	arena   arena
	dropped uint32
	queue   []unsafe.Pointer // chunks to compact, emptiest first
}

// New returns an index of entries, which it sorts unless they already
// are (a loader may hand them sorted: Sort and Merge).
func New(entries []*Entry) *Index {
	if !slices.IsSortedFunc(entries, compareEntries) {
		slices.SortFunc(entries, compareEntries)
	}
	x := &Index{entries: entries, keys: newKeyMap(len(entries)), chunks: map[unsafe.Pointer]uint32{}}
	for i, e := range entries {
		x.keys.set(e.Key(), e)
		e.pos = i
		x.adopt(e)
	}
	return x
}

// Sort sorts entries by key, as New does. A loader that builds entries on
// several goroutines sorts each part on its own and merges them (Merge):
// at 400,000 servers sorting was a fifth of opening a store, on one core.
func Sort(entries []*Entry) { slices.SortFunc(entries, compareEntries) }

// Merge returns the entries of parts, each sorted by key, in one sorted
// slice. It may reuse and reorder the parts' memory.
func Merge(parts [][]*Entry) []*Entry {
	for len(parts) > 1 {
		var next [][]*Entry
		for i := 0; i < len(parts); i += 2 {
			if i+1 == len(parts) {
				next = append(next, parts[i])
				break
			}
			next = append(next, mergeTwo(parts[i], parts[i+1]))
		}
		parts = next
	}
	if len(parts) == 0 {
		return nil
	}
	return parts[0]
}

func mergeTwo(a, b []*Entry) []*Entry {
	out := make([]*Entry, 0, len(a)+len(b))
	for len(a) > 0 && len(b) > 0 {
		if compareEntries(b[0], a[0]) < 0 {
			out, b = append(out, b[0]), b[1:]
		} else {
			out, a = append(out, a[0]), a[1:]
		}
	}
	return append(append(out, a...), b...)
}

// position returns where the entry of k, old (nil when there is none),
// is or would be inserted in the sorted entries.
func (x *Index) position(old *Entry, k gitops.Key) int {
	if old != nil && old.pos < len(x.entries) && x.entries[old.pos] == old {
		return old.pos
	}
	return search(x.entries, k.ServerGroup, k.Host)
}

// Get returns the entry of k, or nil.
func (x *Index) Get(k gitops.Key) *Entry {
	x.mu.RLock()
	e := x.keys.get(k)
	x.mu.RUnlock()
	return e
}

// Lookup is Get for the writer, which is the only goroutine that changes
// the index and so needs no lock to read it.
func (x *Index) Lookup(k gitops.Key) *Entry { return x.keys.get(k) }

// search returns the position of the first entry at or after (group, host).
func search(entries []*Entry, group, host string) int {
	i, _ := slices.BinarySearchFunc(entries, [2]string{group, host}, func(e *Entry, k [2]string) int {
		return compareKeys(e.group(), e.Host(), k[0], k[1])
	})
	return i
}

// snapshot appends to dst the entries a filter on groups may match, in
// order: every entry when groups is empty, else those of each group.
func (x *Index) snapshot(dst []*Entry, groups []string) []*Entry {
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
		for hi < len(x.entries) && x.entries[hi].group() == g {
			hi++
		}
		dst = append(dst, x.entries[lo:hi]...)
	}
	return dst
}

// edit is one change of the sorted entries, at a position of the current
// slice: insert e before entries[pos], or replace entries[pos] by e
// (removing it when e is nil).
type edit struct {
	pos    int
	insert bool
	e, old *Entry
}

// Publish applies a committed batch's final state by key (nil = deleted).
// Replacing entries of existing servers swaps pointers in place. Adding or
// removing servers builds the new sorted slice outside the lock, copying
// the runs between edits, so a batch that creates many servers costs one
// pass over the index, not one per server; the slice it replaces, emptied,
// becomes the next build's buffer, since readers copy what they need under
// the lock and keep no reference to it.
func (x *Index) Publish(final map[gitops.Key]*Entry) {
	if len(final) == 0 {
		return
	}
	edits := make([]edit, 0, len(final))
	resize := false
	for k, e := range final {
		old := x.keys.get(k)
		if old == nil && e == nil {
			continue // created and deleted in the same batch
		}
		pos := x.position(old, k)
		edits = append(edits, edit{pos: pos, insert: old == nil, e: e, old: old})
		resize = resize || old == nil || e == nil
	}
	if !resize {
		x.mu.Lock()
		for _, ed := range edits {
			ed.e.pos = ed.pos
			x.entries[ed.pos] = ed.e
			x.keys.replace(ed.old, ed.e)
		}
		x.mu.Unlock()
		x.account(edits)
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
			ed.e.pos = len(merged)
			merged = append(merged, ed.e)
		}
	}
	merged = append(merged, x.entries[prev:]...)

	x.mu.Lock()
	old := x.entries
	x.entries = merged
	for _, ed := range edits {
		switch {
		case ed.e == nil:
			x.keys.del(ed.old.Key())
		case ed.old == nil:
			x.keys.set(ed.e.Key(), ed.e)
		default:
			x.keys.replace(ed.old, ed.e)
		}
	}
	x.mu.Unlock()
	clear(old) // entries replaced from now on must not stay alive through it
	x.spare = old[:0]
	x.account(edits)
}

// account counts a published batch's edits in the chunks' use, and
// compacts them when they have filled with dead records.
func (x *Index) account(edits []edit) {
	for _, ed := range edits {
		if ed.old != nil {
			x.drop(ed.old)
		}
		if ed.e != nil {
			x.adopt(ed.e)
		}
	}
	x.compact()
}

// Reset replaces the whole index, as after loading it again.
func (x *Index) Reset(entries []*Entry) {
	y := New(entries)
	x.mu.Lock()
	x.entries, x.keys, x.spare = y.entries, y.keys, nil
	x.mu.Unlock()
	x.chunks, x.dropped, x.queue = y.chunks, 0, nil
}

// matches reports whether e passes every condition of f but Stale.
func matches(e *Entry, f *gitops.Filter) bool {
	a := e.attrs()
	return (len(f.ServerGroup) == 0 || slices.Contains(f.ServerGroup, a.group)) &&
		(len(f.Host) == 0 || slices.Contains(f.Host, e.Host())) &&
		(len(f.ServerType) == 0 || slices.Contains(f.ServerType, a.serverType)) &&
		(len(f.Environment) == 0 || slices.Contains(f.Environment, a.environment)) &&
		(len(f.Status) == 0 || slices.Contains(f.Status, a.status)) &&
		(len(f.ValidationStatus) == 0 || slices.Contains(f.ValidationStatus, a.validation))
}

// scratch recycles the slices ListEncoded copies entry pointers into.
var scratch = sync.Pool{New: func() any { return new([]*Entry) }}

// List answers ListEncoded from the index at now, under heads.
func (x *Index) List(f gitops.Filter, now time.Time, global time.Duration, heads *gitops.Heads) ([]gitops.EncodedServer, int) {
	bufp := scratch.Get().(*[]*Entry)
	cand := x.snapshot((*bufp)[:0], f.ServerGroup)
	var memo headMemo
	// Filter in place: cand[:n] are the matches, in order.
	n := 0
	for _, e := range cand {
		if !matches(e, &f) {
			continue
		}
		if f.Stale != nil && e.Stale(now, global) != *f.Stale {
			continue
		}
		if f.Behind != nil && e.tail(heads, &memo).Behind() != *f.Behind {
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
		out[i] = gitops.EncodedServer{Head: e.Head(), Stale: e.Stale(now, global), ChangedFiles: e.ChangedFiles,
			Pair: e.pair(heads, &memo), CommitAt: e.commitAt, CommitLen: e.commitLen}
	}
	clear(cand) // let replaced entries go
	*bufp = cand[:0]
	scratch.Put(bufp)
	return out, n
}

// LegacyLatest returns the entry GET /api/status shows when no server is
// named (gitops.Store.LegacyLatest): the one written last through the
// legacy API, else the imported one with the newest timestamp (unset
// last), ties going to the first key; nil when there is neither. It reads
// two fields of every entry and decodes none: at 400,000 servers the SQL
// it replaces read and sorted every imported row, ~0.6 s a request.
func (x *Index) LegacyLatest() *Entry {
	bufp := scratch.Get().(*[]*Entry)
	all := x.snapshot((*bufp)[:0], nil)
	var legacy, imported *Entry
	// all is in key order, so only a strictly newer entry replaces one.
	for _, e := range all {
		switch {
		case e.legacyWrittenAt != noTime:
			if legacy == nil || e.legacyWrittenAt > legacy.legacyWrittenAt {
				legacy = e
			}
		case e.Imported && legacy == nil:
			if imported == nil || e.timestamp > imported.timestamp {
				imported = e
			}
		}
	}
	clear(all) // let replaced entries go
	*bufp = all[:0]
	scratch.Put(bufp)
	if legacy != nil {
		return legacy
	}
	return imported
}

// samples is a snapshot of the index's entries as gitops.Samples.
type samples struct {
	entries []*Entry
	now     time.Time
	global  time.Duration
	heads   *gitops.Heads
	decodes bool
}

func (v *samples) Len() int { return len(v.entries) }

func (v *samples) At(i int, s *gitops.ServerSample) { v.entries[i].Sample(s, v.now, v.global, v.heads) }

func (v *samples) Record(i int) (gitops.Server, error) {
	if !v.decodes {
		return gitops.Server{}, ErrHead
	}
	e := v.entries[i]
	sv, err := e.Decode()
	if err != nil {
		return sv, err
	}
	sv.Stale, sv.Desired = e.Stale(v.now, v.global), e.Desired(v.heads)
	return sv, nil
}

// ReadSamples calls fn with every entry as it is now, in key order, stale
// computed at now: what gitops.SampleReader hands out. The view copies the
// entry pointers (8 bytes a server, from a pool), never the records, and
// holds no lock while fn runs. decodes says the entries' heads read back
// exactly (the store's HeadRoundTrips); otherwise the view's Record fails
// and a reader reads the store.
func (x *Index) ReadSamples(now time.Time, global time.Duration, heads *gitops.Heads, decodes bool, fn func(gitops.Samples) error) error {
	bufp := scratch.Get().(*[]*Entry)
	v := &samples{entries: x.snapshot((*bufp)[:0], nil), now: now, global: global, heads: heads, decodes: decodes}
	err := fn(v)
	clear(v.entries) // let replaced entries go
	*bufp = v.entries[:0]
	scratch.Put(bufp)
	return err
}
