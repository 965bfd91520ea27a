package index

import (
	"slices"
	"sync/atomic"
	"unsafe"
)

// Entries live in chunks: byte slices of 256 KiB that hold records one
// after another, each an Entry followed by its host, its attrs when it
// keeps its own, and its head. A chunk holds no pointer, so a garbage
// collection marks it as one object and never reads it. Before chunks,
// every server was two objects (its entry and its head) that each
// collection had to find and the entry's pointers it had to follow: at
// 400,000 servers that marking took 40 to 80 ms of a collection's CPU in
// isolation and two to four times that in a loaded service, whose reports
// piled up behind it (docs/performance.md).
//
// A record, once written, never changes but for the fields only its
// index's writer uses (pos, slot), so readers use an entry without a lock
// as before. A replaced record stays where it is; its chunk stays alive
// while any reader or index still points into it. An index counts the
// bytes of its live records in each chunk (Index.chunks) and, once a fifth of
// what its chunks hold is dead, copies the live records of the emptiest
// chunks into chunks of its own and lets the emptied ones go (compact).
//
// A chunk starts with a header: the bytes written so far (atomic, since
// the Interner that fills a chunk may run on another goroutine than the
// index that compacts it) and the chunk's size.
const (
	chunkSize   = 256 << 10
	chunkHeader = 8
	// bigRecord is the largest record that shares a chunk; a larger one
	// (a head with thousands of changed files) gets a chunk of its own,
	// so that a chunk never wastes more than a quarter of itself at its
	// end.
	bigRecord = chunkSize / 4
)

// used is the number of bytes of c (from its start, header included)
// that hold records.
func used(c unsafe.Pointer) *atomic.Uint32 { return (*atomic.Uint32)(c) }

// chunkLen is the size of the chunk at c.
func chunkLen(c unsafe.Pointer) uint32 { return *(*uint32)(unsafe.Add(c, 4)) }

func newChunk(size int) unsafe.Pointer {
	buf := make([]byte, size)
	c := unsafe.Pointer(unsafe.SliceData(buf))
	*(*uint32)(unsafe.Add(c, 4)) = uint32(size)
	used(c).Store(chunkHeader)
	return c
}

// arena hands out space for records from chunks, for one goroutine.
type arena struct {
	cur unsafe.Pointer // the chunk being filled, nil before the first
}

// alloc returns zeroed space for a record of n bytes (a multiple of 8)
// and its offset in its chunk. The caller writes the record and then
// commits it (commit), which makes it visible to a compaction.
func (a *arena) alloc(n uint32) (unsafe.Pointer, uint32) {
	if n > bigRecord {
		c := newChunk(int(chunkHeader + n))
		return unsafe.Add(c, chunkHeader), chunkHeader
	}
	if a.cur == nil || used(a.cur).Load()+n > chunkSize {
		a.cur = newChunk(chunkSize)
	}
	off := used(a.cur).Load()
	return unsafe.Add(a.cur, off), off
}

// commit marks the record e, written in full, as part of its chunk.
func commit(e *Entry) {
	used(e.chunk()).Store(e.off + e.size)
}

// chunk is the start of the chunk that holds e.
func (e *Entry) chunk() unsafe.Pointer { return unsafe.Add(unsafe.Pointer(e), -int(e.off)) }

// copyRecord copies the record e into a's chunks and returns the copy.
func (a *arena) copyRecord(e *Entry) *Entry {
	p, off := a.alloc(e.size)
	copy(unsafe.Slice((*byte)(p), e.size), unsafe.Slice((*byte)(unsafe.Pointer(e)), e.size))
	c := (*Entry)(p)
	c.off = off
	commit(c)
	return c
}

// compactAfter is how many bytes of records an index drops between
// looks at how much of its chunks is dead: a look sums over every chunk.
var compactAfter uint32 = 4 << 20 // lowered by tests

// adopt counts e among the records the index holds.
func (x *Index) adopt(e *Entry) {
	x.chunks[e.chunk()] += e.size
}

// drop stops counting e among the records the index holds.
func (x *Index) drop(e *Entry) {
	c := e.chunk()
	x.chunks[c] -= e.size
	if x.chunks[c] == 0 && c != x.arena.cur && used(c).Load() >= chunkLen(c)-bigRecord {
		// Nothing of it is held and nothing much will be added: let it go
		// without copying.
		delete(x.chunks, c)
	}
	x.dropped += e.size
}

// holds reports whether e is the entry the index holds for its key.
func (x *Index) holds(e *Entry) bool {
	switch {
	case e.slot == noSlot:
		return x.keys.collided[e.Key()] == e
	case int(e.slot) < len(x.keys.entries):
		return x.keys.entries[e.slot] == e
	}
	return false
}

// compactStep is how many chunks a Publish compacts at most: copying a
// large index's worth at once stalled its writer for ~100 ms at 400,000
// servers, long enough for reports to pile up behind it.
const compactStep = 2

// compact copies the live records of the index's emptiest chunks into its
// own and lets the emptied chunks go: once more than a fifth of the bytes
// its chunks hold is dead, it queues the emptiest chunks until freeing
// them would leave no more than an eighth dead, and then compacts
// compactStep of them a call. Only the index's writer calls it, from
// Publish, without the lock: it takes the lock only to swap the copies in.
func (x *Index) compact() {
	if len(x.queue) == 0 {
		x.plan()
	}
	n := min(compactStep, len(x.queue))
	if n == 0 {
		return
	}
	var moved [][2]*Entry
	for _, c := range x.queue[:n] {
		if _, ok := x.chunks[c]; !ok {
			continue // emptied meanwhile (drop)
		}
		end := used(c).Load()
		for off := uint32(chunkHeader); off < end; {
			e := (*Entry)(unsafe.Add(c, off))
			off += e.size
			if x.holds(e) {
				moved = append(moved, [2]*Entry{e, x.arena.copyRecord(e)})
			}
		}
		delete(x.chunks, c)
	}
	clear(x.queue[:n])
	x.queue = x.queue[n:]
	if len(moved) == 0 {
		return
	}
	x.mu.Lock()
	for _, m := range moved {
		old, e := m[0], m[1]
		i := x.position(old, old.Key())
		x.entries[i], e.pos = e, i
		x.keys.replace(old, e)
	}
	x.mu.Unlock()
	for _, m := range moved {
		x.adopt(m[1])
	}
}

// plan queues the chunks compact is to empty, if enough of the index's
// chunks is dead.
func (x *Index) plan() {
	if x.dropped < compactAfter {
		return
	}
	x.dropped = 0
	type cand struct {
		c          unsafe.Pointer
		live, used uint32
	}
	var total, live uint64
	cands := make([]cand, 0, len(x.chunks))
	for c, u := range x.chunks {
		n := used(c).Load()
		total += uint64(n)
		live += uint64(u)
		if c != x.arena.cur {
			cands = append(cands, cand{c, u, n})
		}
	}
	if (total-live)*5 <= total {
		return
	}
	// Emptiest first: each copied byte frees the most.
	slices.SortFunc(cands, func(a, b cand) int {
		return int(int64(a.live)*int64(b.used) - int64(b.live)*int64(a.used))
	})
	for _, cd := range cands {
		if (total-live)*8 <= total {
			break
		}
		x.queue = append(x.queue, cd.c)
		total -= uint64(cd.used)
		live -= uint64(cd.live)
	}
}
