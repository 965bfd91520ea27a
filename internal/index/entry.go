package index

import (
	"bytes"
	"math"
	"strings"
	"time"
	"unsafe"

	gitops "github.com/gitops-status/gitops-status"
)

// Entry is one server as the index keeps it: its head and what filtering
// and the computed stale need. Entries are immutable once published; the
// writer replaces an entry, it never changes one, so readers use entries
// without a lock.
type Entry struct {
	// The fields a list reads of every entry come first, in its first 64
	// bytes: a list of a large fleet is mostly waiting for entries to come
	// out of memory.
	Head []byte
	// lastReport is the newest of last_pipeline_run and last_cron_check,
	// in unix microseconds (noTime when neither is set). Times are kept so
	// rather than as time.Time: 24 bytes less a time, and no pointer for
	// the GC.
	lastReport int64
	// staleAfter is the server's own stale threshold, or globalThreshold
	// when the global one applies (stale_after "" or unparsable), as
	// gitops.Server.StaleThreshold decides.
	staleAfter time.Duration
	// The fields many servers share, in one shared value.
	*attrs
	// commitAt and commitLen place the record's commit in Head: a list
	// compares it with the head's commit when Head is copied into the
	// answer, not before, which would read Head twice, once out of cache.
	commitAt, commitLen uint32
	// ChangedFiles is how many changed files the record lists, for
	// changed_files_count; set only before the entry is published.
	ChangedFiles int
	host         string
	// The times the per-server metrics show, in unix microseconds (what
	// stores keep), unset when noTime.
	lastPipelineRun, lastCronCheck, statusSince int64
	// The two fields that are not in the head, kept so that the writer can
	// rebuild the whole record from an entry (Decode); legacyWrittenAt in
	// unix microseconds.
	Imported        bool
	legacyWrittenAt int64
	// RowID is where a store that has one (SQLite's rowid) keeps the
	// record, 0 when unknown: the writer updates the row by it instead of
	// searching the key's index, a page read per write at a large fleet.
	RowID int64
	// pos is where the entry was in the sorted entries when it was
	// published: it lets Publish replace the entry without a binary search
	// (a tenth of the writer's time at 400,000 servers), and is checked
	// before use, since inserting or removing servers shifts the entries
	// after them. Only the goroutine that changes the index uses it.
	pos int
	// slot is the entry's place in the index's keyMap (noSlot when it is
	// not in one), so that a replacement takes the same place without a
	// lookup. Only the goroutine that changes the index uses it.
	slot uint32
	// hostBuf holds the host when it fits, and host points into it: one
	// object less a server for every collection to mark, and a lookup by
	// key compares the host in the entry it already reads instead of
	// missing the cache once more for a string of its own.
	hostBuf [32]byte
}

// setHost makes h the entry's host, kept in hostBuf when it fits.
func (e *Entry) setHost(h string) {
	if h != "" && len(h) <= len(e.hostBuf) {
		n := copy(e.hostBuf[:], h)
		e.host = unsafe.String(&e.hostBuf[0], n)
		return
	}
	e.host = strings.Clone(h)
}

// attrs are the fields of a record that filters, the per-server metrics
// and the computed desired fields read, and that a fleet repeats: its
// servers have far fewer combinations of them than there are servers.
// Entries share one attrs per combination (Interner.shared), so that an
// entry holds one pointer instead of seven strings: 112 bytes less a
// server, and six pointers less for every collection to follow
// (docs/performance.md). An attrs is immutable.
type attrs struct {
	group                   string
	serverType, environment string
	// repoName and branch find the record's head.
	repoName, branch string
	status           gitops.Status
	validation       gitops.ValidationStatus
}

// globalThreshold is an entry's staleAfter when the global threshold
// applies.
const globalThreshold = time.Duration(math.MinInt64)

// Key is the server's key.
func (e *Entry) Key() gitops.Key { return gitops.Key{ServerGroup: e.group, Host: e.host} }

// Stale is gitops.Server.IsStale for the entry's record.
func (e *Entry) Stale(now time.Time, global time.Duration) bool {
	d := e.staleAfter
	if d == globalThreshold {
		d = global
	}
	if d <= 0 {
		return false
	}
	return now.Sub(fromMicros(e.lastReport)) > d
}

// Decode returns the entry's whole record: its head decoded, with the two
// fields the head lacks.
func (e *Entry) Decode() (gitops.Server, error) {
	sv, err := DecodeHead(e.Head)
	if err != nil {
		return sv, err
	}
	sv.Imported, sv.LegacyWrittenAt = e.Imported, fromMicros(e.legacyWrittenAt)
	return sv, nil
}

// Desired is the entry's computed desired fields under heads.
func (e *Entry) Desired(heads *gitops.Heads) gitops.Desired {
	if t := heads.Tail(e.repoName, e.branch, e.commit); t != nil {
		return t.Desired
	}
	return gitops.Desired{}
}

// headMemo remembers the head the last (repo_name, branch) of a list
// matched: neighbouring records mostly share them, and the index interns
// both, so comparing the strings' pointers finds a repeat without hashing
// (the lookup was a fifth of a fleet read with heads set).
type headMemo struct {
	repo, branch string
	i            int
	set          bool
}

// same reports whether a and b are the same string by its bytes' address
// and length: interned equal strings are, and same strings are equal.
func same(a, b string) bool {
	return len(a) == len(b) && unsafe.StringData(a) == unsafe.StringData(b)
}

// pair is the tails of the entry's head under heads, looked up through m.
func (e *Entry) pair(heads *gitops.Heads, m *headMemo) *[2]gitops.DesiredTail {
	if heads.Len() == 0 {
		return nil
	}
	if !m.set || !same(e.repoName, m.repo) || !same(e.branch, m.branch) {
		*m = headMemo{repo: e.repoName, branch: e.branch, i: heads.Lookup(e.repoName, e.branch), set: true}
	}
	return heads.PairAt(m.i)
}

// tail is the entry's desired tail under heads, looked up through m.
func (e *Entry) tail(heads *gitops.Heads, m *headMemo) *gitops.DesiredTail {
	if heads.Len() == 0 {
		return nil
	}
	e.pair(heads, m)
	return heads.TailAt(m.i, e.commit)
}

// commit is the record's commit_sha as its head holds it: JSON-escaped,
// which leaves hex digits (all a head's commit may hold) as they are, so
// it compares with a head's commit as the record's own would.
func (e *Entry) commit() string {
	if e.commitLen == 0 {
		return ""
	}
	return unsafe.String(&e.Head[e.commitAt], e.commitLen)
}

// commitKey precedes the commit_sha value in every head; a string value
// cannot hold it, since it would hold its quotes escaped.
var commitKey = []byte(`,"commit_sha":"`)

// commitIn returns where the commit_sha value is in head, and its length.
func commitIn(head []byte) (at, n uint32) {
	i := bytes.Index(head, commitKey)
	if i < 0 {
		return 0, 0
	}
	start := i + len(commitKey)
	end := start
	for end < len(head) && head[end] != '"' {
		if head[end] == '\\' {
			end++
		}
		end++
	}
	if end > len(head) {
		return 0, 0
	}
	return uint32(start), uint32(end - start)
}

// Encoded is the entry as gitops.EncodedServer at now, under heads.
func (e *Entry) Encoded(now time.Time, global time.Duration, heads *gitops.Heads) gitops.EncodedServer {
	return gitops.EncodedServer{Head: e.Head, Stale: e.Stale(now, global), ChangedFiles: e.ChangedFiles, Tail: heads.Tail(e.repoName, e.branch, e.commit)}
}

// noTime marks an unset time among an entry's microseconds.
const noTime = math.MinInt64

func micros(t time.Time) int64 {
	if t.IsZero() {
		return noTime
	}
	return t.UnixMicro()
}

func fromMicros(us int64) time.Time {
	if us == noTime {
		return time.Time{}
	}
	return time.UnixMicro(us).UTC()
}

// Sample fills s with what the per-server metrics need of the entry, with
// stale at now and desired under heads.
func (e *Entry) Sample(s *gitops.ServerSample, now time.Time, global time.Duration, heads *gitops.Heads) {
	*s = gitops.ServerSample{
		ServerGroup:      e.group,
		Host:             e.host,
		ServerType:       e.serverType,
		Environment:      e.environment,
		Status:           e.status,
		ValidationStatus: e.validation,
		ChangedFiles:     e.ChangedFiles,
		LastPipelineRun:  fromMicros(e.lastPipelineRun),
		LastCronCheck:    fromMicros(e.lastCronCheck),
		StatusSince:      fromMicros(e.statusSince),
		Stale:            e.Stale(now, global),
		Desired:          e.Desired(heads),
	}
}

// staleAfter parses a stale_after value as gitops.Server.StaleThreshold
// does: "" and unparsable values mean the global threshold applies.
func staleAfter(v string) time.Duration {
	if v == "" {
		return globalThreshold
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return globalThreshold
	}
	return d
}

func compareKeys(ag, ah, bg, bh string) int {
	if c := strings.Compare(ag, bg); c != 0 {
		return c
	}
	return strings.Compare(ah, bh)
}

func compareEntries(a, b *Entry) int { return compareKeys(a.group, a.host, b.group, b.host) }

// Interner shares the strings many servers repeat (groups, types,
// environments, statuses) and the attrs made of them, each a copy of its
// own, so an entry never keeps alive a larger string its fields were cut
// from (decodeHead's substrings). Only the writer uses it.
type Interner struct {
	strs  map[string]string
	attrs map[attrs]*attrs
}

// maxAttrs bounds the attrs an Interner shares. A fleet where nearly every
// server has its own combination (a group per server, say) would otherwise
// keep one map entry per server on top of the attrs; past the bound, new
// combinations get an attrs of their own, which costs what the strings
// cost inside the entry.
const maxAttrs = 1 << 16

func NewInterner() *Interner {
	return &Interner{strs: map[string]string{}, attrs: map[attrs]*attrs{}}
}

func (in *Interner) intern(s string) string {
	if v, ok := in.strs[s]; ok {
		return v
	}
	c := strings.Clone(s)
	in.strs[c] = c
	return c
}

// Merge adds what other shares and in does not, for loaders that intern
// on several goroutines, each into its own Interner.
func (in *Interner) Merge(other *Interner) {
	for k, v := range other.strs {
		if _, ok := in.strs[k]; !ok {
			in.strs[k] = v
		}
	}
	for k, v := range other.attrs {
		if _, ok := in.attrs[k]; !ok && len(in.attrs) < maxAttrs {
			in.attrs[k] = v
		}
	}
}

// shared returns the shared attrs of sv.
func (in *Interner) shared(sv *gitops.Server) *attrs {
	// A lookup with sv's own strings allocates nothing; only a new
	// combination is interned, string by string.
	a := attrs{
		group: sv.ServerGroup, serverType: sv.ServerType, environment: sv.Environment,
		repoName: sv.RepoName, branch: sv.Branch, status: sv.Status, validation: sv.ValidationStatus,
	}
	if p, ok := in.attrs[a]; ok {
		return p
	}
	p := &attrs{
		group:       in.intern(a.group),
		serverType:  in.intern(a.serverType),
		environment: in.intern(a.environment),
		repoName:    in.intern(a.repoName),
		branch:      in.intern(a.branch),
		status:      gitops.Status(in.intern(string(a.status))),
		validation:  gitops.ValidationStatus(in.intern(string(a.validation))),
	}
	if len(in.attrs) < maxAttrs {
		in.attrs[*p] = p
	}
	return p
}

// NewEntry builds the entry of sv, whose head is head.
func (in *Interner) NewEntry(sv *gitops.Server, head []byte) *Entry {
	e := &Entry{
		attrs:           in.shared(sv),
		lastReport:      micros(sv.LastReport()),
		lastPipelineRun: micros(sv.LastPipelineRun),
		lastCronCheck:   micros(sv.LastCronCheck),
		statusSince:     micros(sv.StatusSince),
		staleAfter:      staleAfter(sv.StaleAfter),
		ChangedFiles:    len(sv.ChangedFiles),
		Imported:        sv.Imported,
		legacyWrittenAt: micros(sv.LegacyWrittenAt),
		Head:            head,
	}
	e.setHost(sv.Host)
	e.commitAt, e.commitLen = commitIn(head)
	return e
}
