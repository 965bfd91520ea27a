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
// and the computed stale need. An Entry is the start of a record in a
// chunk (see arena), followed by the host, the attrs when it keeps its
// own, and the head. It holds no pointer, and TestEntryHoldsNoPointer
// keeps it so: a chunk is allocated as bytes, and the collector would not
// see one. Entries are immutable once published; the writer replaces an
// entry, it never changes one, so readers use entries without a lock.
// Only an Interner makes entries.
type Entry struct {
	// The fields a list reads of every entry come first, in its first 64
	// bytes: a list of a large fleet is mostly waiting for entries to come
	// out of memory.
	//
	// lastReport is the newest of last_pipeline_run and last_cron_check,
	// in unix microseconds (noTime when neither is set).
	lastReport int64
	// staleAfter is the server's own stale threshold, or globalThreshold
	// when the global one applies (stale_after "" or unparsable), as
	// gitops.Server.StaleThreshold decides.
	staleAfter time.Duration
	// attrID names the fields many servers share (sharedAttrs), or is
	// inlineAttrs when the entry keeps its own after the host.
	attrID uint32
	// hostLen, attrLen and headLen are the lengths of what follows the
	// Entry in its record: the host, the entry's own attrs, the head.
	hostLen, attrLen, headLen uint32
	// commitAt and commitLen place the record's commit in the head: a list
	// compares it with the head's commit when the head is copied into the
	// answer, not before, which would read the head twice, once out of
	// cache.
	commitAt, commitLen uint32
	// ChangedFiles is how many changed files the record lists, for
	// changed_files_count; set only before the entry is published.
	ChangedFiles int
	// The times the per-server metrics show, in unix microseconds (what
	// stores keep), unset when noTime.
	lastPipelineRun, lastCronCheck, statusSince int64
	// legacyWrittenAt, in unix microseconds, and Imported are the two
	// fields that are not in the head, kept so that the writer can
	// rebuild the whole record from an entry (Decode).
	legacyWrittenAt int64
	// timestamp, in unix microseconds, orders the imported servers for
	// LegacyLatest without decoding a head.
	timestamp int64
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
	// in the collided map, unadopted before an index holds it), so that a
	// replacement takes the same place without a lookup. Only the
	// goroutine that changes the index uses it.
	slot uint32
	// off is where the record starts in its chunk, and size its length
	// there, a multiple of 8.
	off, size uint32
	Imported  bool
}

// entrySize is where an entry's host starts in its record.
const entrySize = (uint32(unsafe.Sizeof(Entry{})) + 7) &^ 7

// bytes returns n bytes of the record from at.
func (e *Entry) bytes(at, n uint32) []byte {
	return unsafe.Slice((*byte)(unsafe.Add(unsafe.Pointer(e), at)), n)
}

// Host is the server's host.
func (e *Entry) Host() string {
	return unsafe.String((*byte)(unsafe.Add(unsafe.Pointer(e), entrySize)), e.hostLen)
}

// Head is the record's head, which the caller must not change.
func (e *Entry) Head() []byte { return e.bytes(entrySize+e.hostLen+e.attrLen, e.headLen) }

// attrs returns the fields the entry shares with other servers, or a
// copy of its own: only a fleet past maxAttrs combinations pays that
// allocation.
func (e *Entry) attrs() *attrs {
	if e.attrID != inlineAttrs {
		return sharedAttrs(e.attrID)
	}
	s := e.inline()
	return &attrs{group: s[0], serverType: s[1], environment: s[2], repoName: s[3], branch: s[4],
		status: gitops.Status(s[5]), validation: gitops.ValidationStatus(s[6])}
}

// group is the server's group, found without building its attrs: keys
// are compared in every sort and search.
func (e *Entry) group() string {
	if e.attrID != inlineAttrs {
		return sharedAttrs(e.attrID).group
	}
	return e.inline()[0]
}

// inline reads the attrs an entry keeps after its host, as NewEntry wrote
// them: seven lengths, then the seven strings, in attrs' field order.
func (e *Entry) inline() (s [7]string) {
	b := e.bytes(entrySize+e.hostLen, e.attrLen)
	at := uint32(len(s) * 4)
	for i := range s {
		n := *(*uint32)(unsafe.Pointer(&b[i*4]))
		s[i] = unsafe.String(unsafe.SliceData(b[at:]), n)
		at += n
	}
	return s
}

// globalThreshold is an entry's staleAfter when the global threshold
// applies.
const globalThreshold = time.Duration(math.MinInt64)

// Key is the server's key.
func (e *Entry) Key() gitops.Key { return gitops.Key{ServerGroup: e.group(), Host: e.Host()} }

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
	sv, err := DecodeHead(e.Head())
	if err != nil {
		return sv, err
	}
	sv.Imported, sv.LegacyWrittenAt = e.Imported, fromMicros(e.legacyWrittenAt)
	return sv, nil
}

// Desired is the entry's computed desired fields under heads.
func (e *Entry) Desired(heads *gitops.Heads) gitops.Desired {
	a := e.attrs()
	if t := heads.Tail(a.repoName, a.branch, e.commit); t != nil {
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
	if a := e.attrs(); !m.set || !same(a.repoName, m.repo) || !same(a.branch, m.branch) {
		*m = headMemo{repo: a.repoName, branch: a.branch, i: heads.Lookup(a.repoName, a.branch), set: true}
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
	return unsafe.String(&e.Head()[e.commitAt], e.commitLen)
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
	a := e.attrs()
	return gitops.EncodedServer{Head: e.Head(), Stale: e.Stale(now, global), ChangedFiles: e.ChangedFiles, Tail: heads.Tail(a.repoName, a.branch, e.commit)}
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
	a := e.attrs()
	*s = gitops.ServerSample{
		ServerGroup:      a.group,
		Host:             e.Host(),
		ServerType:       a.serverType,
		Environment:      a.environment,
		Status:           a.status,
		ValidationStatus: a.validation,
		CommitSHA:        e.commit(),
		Branch:           a.branch,
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

func compareEntries(a, b *Entry) int { return compareKeys(a.group(), a.Host(), b.group(), b.Host()) }

// unadopted is an entry's slot before an index holds it.
const unadopted = noSlot - 1

// NewEntry builds the entry of sv, whose head is head, in the Interner's
// chunks: head is copied, and may change afterwards.
func (in *Interner) NewEntry(sv *gitops.Server, head []byte) *Entry {
	id := in.attrsID(sv)
	var own [7]string
	attrLen := uint32(0)
	if id == inlineAttrs {
		own = [7]string{sv.ServerGroup, sv.ServerType, sv.Environment, sv.RepoName, sv.Branch, string(sv.Status), string(sv.ValidationStatus)}
		attrLen = uint32(len(own) * 4)
		for _, s := range own {
			attrLen += uint32(len(s))
		}
	}
	hostLen, headLen := uint32(len(sv.Host)), uint32(len(head))
	size := (entrySize + hostLen + attrLen + headLen + 7) &^ 7
	p, off := in.alloc(size)
	e := (*Entry)(p)
	*e = Entry{
		attrID:          id,
		lastReport:      micros(sv.LastReport()),
		lastPipelineRun: micros(sv.LastPipelineRun),
		lastCronCheck:   micros(sv.LastCronCheck),
		statusSince:     micros(sv.StatusSince),
		staleAfter:      staleAfter(sv.StaleAfter),
		ChangedFiles:    len(sv.ChangedFiles),
		Imported:        sv.Imported,
		legacyWrittenAt: micros(sv.LegacyWrittenAt),
		timestamp:       micros(sv.Timestamp),
		hostLen:         hostLen,
		attrLen:         attrLen,
		headLen:         headLen,
		slot:            unadopted,
		off:             off,
		size:            size,
	}
	copy(e.bytes(entrySize, hostLen), sv.Host)
	if id == inlineAttrs {
		b := e.bytes(entrySize+hostLen, attrLen)
		at := len(own) * 4
		for i, s := range own {
			*(*uint32)(unsafe.Pointer(&b[i*4])) = uint32(len(s))
			at += copy(b[at:], s)
		}
	}
	copy(e.Head(), head)
	e.commitAt, e.commitLen = commitIn(head)
	commit(e)
	return e
}
