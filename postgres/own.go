package postgres

import (
	"cmp"
	"slices"

	gitops "github.com/gitops-status/gitops-status"
	"github.com/gitops-status/gitops-status/internal/index"
)

// A store's own writes. The writer knows every row it committed and its
// change number n, so publishOwn puts them into the cache when the cache
// is at n-1. With several replicas writing, another replica's commit
// usually comes between, and the cache cannot become the state at n. The
// rows were then left to the next refresh, which read them back from the
// database: every replica read every replica's writes, its own included,
// and each replica added the whole fleet's reads to PostgreSQL's work (at
// 300,000 servers on two replicas, the refresh was an eighth of each
// replica's CPU). Now such a commit waits in the cache's pending list; a
// delta refresh leaves the pending numbers out of the change log it reads
// and takes their rows from the list instead (addOwn), and a commit
// numbered right after the cache's state is published at once.

// ownCommit is one transaction of this store's writer, with the entries
// of the rows it wrote.
type ownCommit struct {
	n       int64
	entries map[gitops.Key]*index.Entry
}

// maxPendingRows bounds the rows waiting in pending, for a replica that
// writes and is never read: beyond it the oldest commits are forgotten,
// and a refresh reads their rows from the database as it would any other.
// At a few thousand writes a second that is ~10 s of writes, where a
// dashboard reads every few seconds.
var maxPendingRows = 20_000

// publishOwn takes the rows a transaction of this store's writer committed
// with change number n (heads holds the written keys' heads, cur their
// records): into the cache when the cache is at n-1, which then becomes the
// state at n, else into pending. It is called before the writes are
// acknowledged, so a read that starts after the acknowledgement finds them
// one way or the other.
func (c *cache) publishOwn(n int64, cur map[gitops.Key]*gitops.Server, heads map[gitops.Key][]byte) {
	c.pub.Lock()
	defer c.pub.Unlock()
	if c.n < 0 || n <= c.n {
		// Not loaded yet (the first refresh reads everything), or a
		// refresh already read past n.
		return
	}
	oc := &ownCommit{n: n, entries: make(map[gitops.Key]*index.Entry, len(heads))}
	for k, head := range heads {
		oc.entries[k] = c.own.NewEntry(cur[k], head)
	}
	c.pending = append(c.pending, oc)
	c.pendingRows += len(oc.entries)
	// One writer commits in number order; keep the list sorted all the
	// same, since drainPending and addOwn rely on it.
	if l := len(c.pending); l > 1 && c.pending[l-2].n > n {
		slices.SortFunc(c.pending, func(a, b *ownCommit) int { return cmp.Compare(a.n, b.n) })
	}
	for c.pendingRows > maxPendingRows && len(c.pending) > 0 {
		c.pendingRows -= len(c.pending[0].entries)
		c.pending[0] = nil
		c.pending = c.pending[1:]
	}
	c.drainPending()
}

// drainPending forgets the pending commits the cache's state already
// covers, and publishes those that follow it without a gap. c.pub is held.
func (c *cache) drainPending() {
	for len(c.pending) > 0 {
		oc := c.pending[0]
		switch {
		case oc.n <= c.n:
		case oc.n == c.n+1:
			c.idx.Publish(oc.entries)
			c.n = oc.n
		default:
			return
		}
		c.pendingRows -= len(oc.entries)
		c.pending[0] = nil
		c.pending = c.pending[1:]
	}
}

// addOwn adds to what a delta refresh read (the state at r.n of every key
// logged above the cache's state but own's numbers) the rows of own, the
// pending commits whose numbers it left out: for each key, the newest of
// the row or deletion read and own's writes numbered up to r.n. Commits the
// cache already covers (at cacheN, which may have moved since the refresh
// began) are skipped: the cache has them.
func (r *refreshed) addOwn(own []*ownCommit, cacheN int64) {
	for _, oc := range own {
		if oc.n <= cacheN {
			continue
		}
		if oc.n > r.n {
			return
		}
		for k, e := range oc.entries {
			if ch, ok := r.changes[k]; ok && ch >= oc.n {
				continue
			}
			r.servers[k], r.changes[k] = e, oc.n
		}
	}
}
