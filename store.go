package gitops

import (
	"context"
	"time"
	"unsafe"
)

// Filter selects servers for Store.List. Each list is an OR of its values;
// different fields AND together. Empty lists match everything.
type Filter struct {
	ServerGroup      []string
	Host             []string
	ServerType       []string
	Environment      []string
	Status           []Status
	ValidationStatus []ValidationStatus
	// Stale, when non-nil, keeps only servers whose computed stale equals it.
	Stale *bool
	// Behind, when non-nil, keeps only servers whose computed behind
	// equals it.
	Behind *bool
	// Limit is the most servers returned; 0 means no limit.
	Limit  int
	Offset int
}

// EventFilter selects events for Store.Events. Zero values match everything.
type EventFilter struct {
	ServerGroup []string
	Host        string
	Status      []Status
	// Since and Until bound the event time, both inclusive.
	Since time.Time
	Until time.Time
	Limit int
}

// ImportMode says how Store.Import treats what is already stored.
type ImportMode int

const (
	// ImportFirstStart imports only when the store holds no servers and has
	// never imported; it is a no-op otherwise, also when several processes
	// try at once.
	ImportFirstStart ImportMode = iota
	// ImportReplace writes every server of the document, replacing stored
	// servers with the same key and keeping the others.
	ImportReplace
)

// Store keeps servers and their events. Implementations are safe for
// concurrent use by many goroutines and, where the backend allows several
// processes, by several processes: every method sees every write another
// caller had acknowledged before it was called.
//
// Errors are *Error values: EUNAVAILABLE when the database cannot be
// reached, ENOTFOUND where stated, EINTERNAL for anything unexpected.
type Store interface {
	// Apply applies u in one transaction that holds the server's row: it
	// reads the current record, calls u.Apply with the store's clock, and
	// writes the new record and the outcome's event before releasing the
	// row. When the outcome is not applied nothing is written. The returned
	// Outcome's Server has Stale filled in. Returns EUNAVAILABLE, EINTERNAL.
	Apply(ctx context.Context, u Update) (Outcome, error)

	// Get returns one server, with Stale filled in. Returns ENOTFOUND.
	Get(ctx context.Context, k Key) (Server, error)

	// List returns the servers matching f, sorted by server_group then host
	// in byte order, with Stale filled in, and the number of servers that
	// match f before Limit and Offset apply.
	List(ctx context.Context, f Filter) ([]Server, int, error)

	// Delete forgets a server. Its events stay until retention prunes them.
	// Returns ENOTFOUND.
	Delete(ctx context.Context, k Key) error

	// Events returns the events matching f, newest first.
	Events(ctx context.Context, f EventFilter) ([]Event, error)

	// PruneEvents deletes events older than before and returns how many;
	// the zero time deletes none. serve calls it every hour, also when
	// event retention is off (with the zero time), so that a store may
	// prune its own logs then too.
	PruneEvents(ctx context.Context, before time.Time) (int, error)

	// LegacyLatest returns the server GET /api/status shows when no server
	// is named: the one most recently written through the legacy API, else
	// the newest by timestamp among imported ones. Returns ENOTFOUND.
	LegacyLatest(ctx context.Context) (Server, error)

	// Import writes servers in one transaction as mode says, records that an
	// import happened, and reports whether it wrote anything. Servers are
	// written as given (they are complete records); no events are written.
	Import(ctx context.Context, servers []Server, mode ImportMode) (bool, error)

	// Ping reports whether the database answers. Returns EUNAVAILABLE.
	Ping(ctx context.Context) error

	HeadStore

	// Close waits for in-flight writes to finish and releases the database.
	Close() error
}

// HeadStore keeps the heads of branches (SPEC §10). Every read of a record
// (Get, List, the encoded and sample readers) computes its Desired from the
// heads as they are at that read, with the freshness of the record itself:
// a head set through any process is in the very next read.
type HeadStore interface {
	// SetHead applies u in one transaction that holds the head's key: it
	// reads the current head, calls u.Apply with the store's clock, and
	// writes the head and the outcome's event. When the outcome is not
	// applied nothing is written. u must be valid (SetHead.Validate).
	// Returns EUNAVAILABLE, EINTERNAL.
	SetHead(ctx context.Context, u SetHead) (HeadOutcome, error)

	// Heads returns every head, sorted by repo_name then branch.
	Heads(ctx context.Context) ([]Head, error)

	// DeleteHead forgets a head; no event is written. Returns ENOTFOUND.
	DeleteHead(ctx context.Context, k HeadKey) error

	// ImportHeads writes heads as given (complete heads, as exported) in
	// one transaction, replacing stored heads with the same key and keeping
	// the others. No events are written.
	ImportHeads(ctx context.Context, heads []Head) error
}

// StoreOptions are what every store needs from the configuration.
type StoreOptions struct {
	// Now is the server's clock; nil means time.Now.
	Now func() time.Time
	// StaleAfter is the global staleness threshold; 0 turns it off.
	StaleAfter time.Duration
	// ObserveBatch, when set, is called with the number of updates of each
	// write transaction the store committed (stores commit concurrent
	// updates together), for metrics. It runs on the store's writer: it
	// must return at once and never call the store.
	ObserveBatch func(updates int)
}

// BatchObserver returns o.ObserveBatch, or a function that does nothing
// when it is nil.
func (o StoreOptions) BatchObserver() func(int) {
	if o.ObserveBatch == nil {
		return func(int) {}
	}
	return o.ObserveBatch
}

// Clock returns o.Now, or time.Now when it is nil.
func (o StoreOptions) Clock() func() time.Time {
	if o.Now == nil {
		return time.Now
	}
	return o.Now
}

// EncodedServer is a record as a store keeps it encoded: the JSON head
// written by (*Server).AppendJSONHead, and what the computed tail needs.
// Head is shared and read-only.
type EncodedServer struct {
	Head         []byte
	Stale        bool
	ChangedFiles int
	// Tail is the record's desired fields, shared by the records of one
	// head (Heads.Tail); nil when no head matches, or when Pair decides.
	Tail *DesiredTail
	// Pair, when Tail is nil, is the matching head's two tails
	// (Heads.PairAt): the record's commit, CommitLen bytes of Head at
	// CommitAt, chooses one when the record is appended, right after Head
	// is copied. Choosing while listing read every record's head twice,
	// once out of cache: it made a fleet read with heads ~1.5x the CPU.
	Pair                *[2]DesiredTail
	CommitAt, CommitLen uint32
}

// tail is the record's desired tail, nil when no head matches.
func (e *EncodedServer) tail() *DesiredTail {
	if e.Tail != nil || e.Pair == nil {
		return e.Tail
	}
	if e.CommitLen > 0 && SameCommit(unsafe.String(&e.Head[e.CommitAt], e.CommitLen), e.Pair[0].CommitSHA) {
		return &e.Pair[0]
	}
	return &e.Pair[1]
}

// Behind is the tail's behind; false without a tail.
func (t *DesiredTail) Behind() bool { return t != nil && t.Desired.Behind }

// Desired is the record's computed desired fields.
func (e *EncodedServer) Desired() Desired {
	if t := e.tail(); t != nil {
		return t.Desired
	}
	return Desired{}
}

// AppendJSON appends the complete record JSON, as (*Server).AppendJSON
// writes it.
func (e *EncodedServer) AppendJSON(dst []byte) []byte {
	dst = appendCounts(append(dst, e.Head...), e.Stale, e.ChangedFiles)
	if t := e.tail(); t == nil {
		dst = append(dst, noDesired...)
	} else {
		dst = append(dst, t.JSON...)
	}
	return append(dst, '}')
}

// EncodedReader is implemented by stores that can answer reads with records
// already encoded, so listing a large fleet costs a copy, not an encoding.
// Adapters use it when the store has it and fall back to Get and List.
// Its answers are the same as Get's and List's, with the same freshness.
type EncodedReader interface {
	// GetEncoded is Get, encoded. Returns ENOTFOUND.
	GetEncoded(ctx context.Context, k Key) (EncodedServer, error)
	// ListEncoded is List, encoded.
	ListEncoded(ctx context.Context, f Filter) ([]EncodedServer, int, error)
}

// ServerSample is what the per-server metrics of SPEC §7, /summary and the
// status page's fleet view need of one record. Unset times are zero.
type ServerSample struct {
	ServerGroup      string
	Host             string
	ServerType       string
	Environment      string
	Status           Status
	ValidationStatus ValidationStatus
	CommitSHA        string
	Branch           string
	ChangedFiles     int
	LastPipelineRun  time.Time
	LastCronCheck    time.Time
	StatusSince      time.Time
	Stale            bool
	Desired          Desired
}

// Samples is a view of every stored server at one moment, sorted by
// server_group then host.
type Samples interface {
	// Len is the number of servers.
	Len() int
	// At fills s with the values of the i-th server, 0 <= i < Len().
	At(i int, s *ServerSample)
	// Record is the whole i-th server as the view holds it, Stale and
	// Desired as At gives them, for a reader that needs a few whole
	// records beside the samples (a page of the status page) without
	// reading them again. An error means this view cannot decode it.
	Record(i int) (Server, error)
}

// SampleReader is implemented by stores that keep every record in memory
// and can hand out what the per-server metrics need without a query or a
// decoded record per server, so that a Prometheus scrape stays cheap as
// the fleet grows.
type SampleReader interface {
	// ReadSamples calls fn with a view of every stored server, with the
	// freshness of List and Stale computed at one clock reading. The view
	// is valid only until fn returns; fn may take its time (the store holds
	// no lock meanwhile) and may read it more than once. Returns fn's
	// error, EUNAVAILABLE, EINTERNAL.
	ReadSamples(ctx context.Context, fn func(Samples) error) error
}

// SamplesOf is the Samples of servers, in their order, for stores without
// a SampleReader (what they List).
func SamplesOf(servers []Server) Samples { return serverSamples(servers) }

// ReadSamples calls fn with every server s stores: from memory when s is a
// SampleReader, else as List reads them, every record decoded. A reader of
// the whole fleet that needs no more than a ServerSample should read it
// here: at 400,000 servers a List costs seconds and ~600 MiB while it
// lasts, the view milliseconds and 8 bytes a server.
func ReadSamples(ctx context.Context, s Store, fn func(Samples) error) error {
	if r, ok := s.(SampleReader); ok {
		return r.ReadSamples(ctx, fn)
	}
	servers, _, err := s.List(ctx, Filter{})
	if err != nil {
		return err
	}
	return fn(SamplesOf(servers))
}

type serverSamples []Server

func (v serverSamples) Len() int { return len(v) }

func (v serverSamples) Record(i int) (Server, error) { return v[i], nil }

func (v serverSamples) At(i int, s *ServerSample) {
	sv := &v[i]
	*s = ServerSample{
		ServerGroup:      sv.ServerGroup,
		Host:             sv.Host,
		ServerType:       sv.ServerType,
		Environment:      sv.Environment,
		Status:           sv.Status,
		ValidationStatus: sv.ValidationStatus,
		CommitSHA:        sv.CommitSHA,
		Branch:           sv.Branch,
		ChangedFiles:     len(sv.ChangedFiles),
		LastPipelineRun:  sv.LastPipelineRun,
		LastCronCheck:    sv.LastCronCheck,
		StatusSince:      sv.StatusSince,
		Stale:            sv.Stale,
		Desired:          sv.Desired,
	}
}
