package index

import (
	"hash/maphash"
	"math"

	gitops "github.com/gitops-status/gitops-status"
)

// keyMap finds an entry by its key without anything in it for the garbage
// collector to follow but one flat array of entry pointers. A Go map keyed
// by gitops.Key holds three pointers a server (the key's two strings and
// the entry) in buckets the collector walks one by one: at 400,000 servers
// that was about a third of its marking work on the index, in every cycle
// (see docs/performance.md). Here the map holds a 64-bit hash of the key
// and the entry's slot, neither a pointer, so the collector skips it
// whole.
//
// Two keys can hash alike. The first keeps the hash's slot; the others go
// to collided, a plain map that is empty but for such keys. A key is in at
// most one of the two. Only the index's writer changes a keyMap, under the
// index's lock; readers look up under its read lock.
type keyMap struct {
	seed     maphash.Seed
	slot     map[uint64]uint32
	entries  []*Entry // by slot; nil when free
	free     []uint32
	collided map[gitops.Key]*Entry
	// sum replaces the seeded hash in tests that force collisions.
	sum func(gitops.Key) uint64
}

func newKeyMap(n int) keyMap {
	return keyMap{seed: maphash.MakeSeed(), slot: make(map[uint64]uint32, n), entries: make([]*Entry, 0, n)}
}

func (m *keyMap) hash(k gitops.Key) uint64 {
	if m.sum != nil {
		return m.sum(k)
	}
	var h maphash.Hash
	h.SetSeed(m.seed)
	h.WriteString(k.ServerGroup)
	h.WriteByte(0)
	h.WriteString(k.Host)
	return h.Sum64()
}

func hasKey(e *Entry, k gitops.Key) bool { return e.Host() == k.Host && e.group() == k.ServerGroup }

// get returns the entry of k, or nil.
func (m *keyMap) get(k gitops.Key) *Entry {
	if s, ok := m.slot[m.hash(k)]; ok {
		if e := m.entries[s]; hasKey(e, k) {
			return e
		}
	}
	if len(m.collided) == 0 {
		return nil
	}
	return m.collided[k]
}

// noSlot is the slot of an entry in collided.
const noSlot = math.MaxUint32

// set makes e, whose key is k, the entry of k.
func (m *keyMap) set(k gitops.Key, e *Entry) {
	h := m.hash(k)
	s, taken := m.slot[h]
	switch {
	case taken && hasKey(m.entries[s], k):
		m.entries[s], e.slot = e, s
	case taken || m.collided[k] != nil:
		if m.collided == nil {
			m.collided = make(map[gitops.Key]*Entry)
		}
		m.collided[k], e.slot = e, noSlot
	default:
		if n := len(m.free); n > 0 {
			s, m.free = m.free[n-1], m.free[:n-1]
			m.entries[s] = e
		} else {
			s = uint32(len(m.entries))
			m.entries = append(m.entries, e)
		}
		m.slot[h], e.slot = s, s
	}
}

// replace puts e, whose key is old's, in old's place: what set does
// without hashing or comparing keys, for the writer, which knows the
// entry it replaces.
func (m *keyMap) replace(old, e *Entry) {
	if old.slot == noSlot {
		m.collided[e.Key()], e.slot = e, noSlot
		return
	}
	m.entries[old.slot], e.slot = e, old.slot
}

// del removes the entry of k, if any.
func (m *keyMap) del(k gitops.Key) {
	h := m.hash(k)
	if s, ok := m.slot[h]; ok && hasKey(m.entries[s], k) {
		delete(m.slot, h)
		m.entries[s] = nil // let it go
		m.free = append(m.free, s)
		return
	}
	delete(m.collided, k)
}
