package index

import (
	"strings"
	"sync"
	"sync/atomic"

	gitops "github.com/gitops-status/gitops-status"
)

// attrs are the fields of a record that filters, the per-server metrics
// and the computed desired fields read, and that a fleet repeats: its
// servers have far fewer combinations of them than there are servers.
// Entries name one shared attrs per combination by its id in the
// process's registry, so that an entry, which must hold no pointer (see
// Entry), carries 4 bytes instead of seven strings. An attrs is immutable.
type attrs struct {
	group                   string
	serverType, environment string
	// repoName and branch find the record's head.
	repoName, branch string
	status           gitops.Status
	validation       gitops.ValidationStatus
}

// maxAttrs bounds the combinations the registry shares, for the life of
// the process: it never forgets one, since an entry a reader still holds
// may name it. A fleet where nearly every server has its own combination
// (a group per server, say) would otherwise grow it without end; past
// the bound, an entry keeps its combination's strings inside itself.
const maxAttrs = 1 << 16

// attrBlock is how many attrs the registry allocates at a time.
const attrBlock = 256

// inlineAttrs is the attrs id of an entry that keeps its own.
const inlineAttrs = ^uint32(0)

// registry holds every shared attrs by id. Readers find one without a
// lock: a block, once published, is never replaced, and an attrs in it,
// once its id is handed out, never changes.
var registry struct {
	mu     sync.Mutex
	ids    map[attrs]uint32
	strs   map[string]string
	n      uint32
	max    uint32 // maxAttrs; lowered by tests
	blocks [maxAttrs / attrBlock]atomic.Pointer[[attrBlock]attrs]
}

func init() {
	registry.ids = map[attrs]uint32{}
	registry.strs = map[string]string{}
	registry.max = maxAttrs
}

// sharedAttrs returns the attrs of id, which the registry handed out.
func sharedAttrs(id uint32) *attrs { return &registry.blocks[id/attrBlock].Load()[id%attrBlock] }

// register returns the id of a's combination, registering a copy of its
// strings if it is new, or inlineAttrs past the bound.
func register(a attrs) uint32 {
	registry.mu.Lock()
	defer registry.mu.Unlock()
	if id, ok := registry.ids[a]; ok {
		return id
	}
	if registry.n >= registry.max {
		return inlineAttrs
	}
	// Copies of their own, so that a registered attrs never keeps alive a
	// larger string its fields were cut from (a decoded head's).
	in := func(s string) string {
		if v, ok := registry.strs[s]; ok {
			return v
		}
		c := strings.Clone(s)
		registry.strs[c] = c
		return c
	}
	c := attrs{
		group: in(a.group), serverType: in(a.serverType), environment: in(a.environment),
		repoName: in(a.repoName), branch: in(a.branch),
		status: gitops.Status(in(string(a.status))), validation: gitops.ValidationStatus(in(string(a.validation))),
	}
	id := registry.n
	b := registry.blocks[id/attrBlock].Load()
	if b == nil {
		b = new([attrBlock]attrs)
	}
	b[id%attrBlock] = c
	// Publish the block after the attrs is in it: a reader that finds
	// the id finds the block through this store.
	registry.blocks[id/attrBlock].Store(b)
	registry.ids[c] = id
	registry.n++
	return id
}

// Interner builds entries (NewEntry). It remembers the ids of the
// combinations it has seen, so that most entries find theirs without the
// registry's lock, and allocates the entries in chunks of its own (see
// arena). Only one goroutine uses an Interner at a time.
type Interner struct {
	ids map[attrs]uint32
	arena
}

func NewInterner() *Interner { return &Interner{ids: map[attrs]uint32{}} }

// Merge adds the combinations other knows and in does not, for loaders
// that build entries on several goroutines, each with its own Interner.
func (in *Interner) Merge(other *Interner) {
	for k, v := range other.ids {
		if _, ok := in.ids[k]; !ok {
			in.ids[k] = v
		}
	}
}

// attrsID returns the id of sv's combination, inlineAttrs past the bound.
func (in *Interner) attrsID(sv *gitops.Server) uint32 {
	// A lookup with sv's own strings allocates nothing; only a new
	// combination is registered, with copies of its strings.
	a := attrs{
		group: sv.ServerGroup, serverType: sv.ServerType, environment: sv.Environment,
		repoName: sv.RepoName, branch: sv.Branch, status: sv.Status, validation: sv.ValidationStatus,
	}
	if id, ok := in.ids[a]; ok {
		return id
	}
	id := register(a)
	if id != inlineAttrs {
		in.ids[*sharedAttrs(id)] = id
	}
	return id
}
