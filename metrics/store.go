package metrics

import (
	"context"
	"errors"
	"time"

	gitops "github.com/gitops-status/gitops-status"
)

// InstrumentStore returns s with the time of every operation recorded in
// gitops_store_operation_duration_seconds and its failures in
// gitops_store_operation_errors_total. The result implements
// gitops.EncodedReader and gitops.SampleReader exactly when s does, so
// adapters keep their fast paths; other optional methods of s are not
// passed on (call them on s itself).
func (m *Metrics) InstrumentStore(s gitops.Store) gitops.Store {
	is := &store{s: s, m: m}
	enc, isEnc := s.(gitops.EncodedReader)
	sr, isSR := s.(gitops.SampleReader)
	switch {
	case isEnc && isSR:
		return struct {
			*store
			encoded
			samples
		}{is, encoded{is, enc}, samples{is, sr}}
	case isEnc:
		return struct {
			*store
			encoded
		}{is, encoded{is, enc}}
	case isSR:
		return struct {
			*store
			samples
		}{is, samples{is, sr}}
	}
	return is
}

// store times the gitops.Store methods.
type store struct {
	s gitops.Store
	m *Metrics
}

// done records an operation that started at start and ended with err.
func (s *store) done(op string, start time.Time, err error) {
	s.m.storeOps[op].Observe(time.Since(start).Seconds())
	s.countError(op, err)
}

// countError counts err, the outcome of op, when it is a failure of the
// store: the database unavailable or erring. Not found, invalid input and
// a caller that gave up are answers, not failures.
func (s *store) countError(op string, err error) {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return
	}
	switch code := gitops.ErrorCode(err); code {
	case gitops.EUNAVAILABLE, gitops.EINTERNAL:
		s.m.storeErrors.WithLabelValues(op, code).Inc()
	}
}

func (s *store) Apply(ctx context.Context, u gitops.Update) (gitops.Outcome, error) {
	start := time.Now()
	o, err := s.s.Apply(ctx, u)
	s.done("apply", start, err)
	return o, err
}

func (s *store) Get(ctx context.Context, k gitops.Key) (gitops.Server, error) {
	start := time.Now()
	sv, err := s.s.Get(ctx, k)
	s.done("get", start, err)
	return sv, err
}

func (s *store) List(ctx context.Context, f gitops.Filter) ([]gitops.Server, int, error) {
	start := time.Now()
	l, n, err := s.s.List(ctx, f)
	s.done("list", start, err)
	return l, n, err
}

func (s *store) Delete(ctx context.Context, k gitops.Key) error {
	start := time.Now()
	err := s.s.Delete(ctx, k)
	s.done("delete", start, err)
	return err
}

func (s *store) Events(ctx context.Context, f gitops.EventFilter) ([]gitops.Event, error) {
	start := time.Now()
	evs, err := s.s.Events(ctx, f)
	s.done("events", start, err)
	return evs, err
}

func (s *store) PruneEvents(ctx context.Context, before time.Time) (int, error) {
	start := time.Now()
	n, err := s.s.PruneEvents(ctx, before)
	s.done("prune_events", start, err)
	return n, err
}

func (s *store) LegacyLatest(ctx context.Context) (gitops.Server, error) {
	start := time.Now()
	sv, err := s.s.LegacyLatest(ctx)
	s.done("legacy_latest", start, err)
	return sv, err
}

func (s *store) Import(ctx context.Context, servers []gitops.Server, mode gitops.ImportMode) (bool, error) {
	start := time.Now()
	ok, err := s.s.Import(ctx, servers, mode)
	s.done("import", start, err)
	return ok, err
}

func (s *store) Ping(ctx context.Context) error {
	start := time.Now()
	err := s.s.Ping(ctx)
	s.done("ping", start, err)
	return err
}

// Close is not timed: it happens once.
func (s *store) Close() error { return s.s.Close() }

// encoded times gitops.EncodedReader.
type encoded struct {
	s   *store
	enc gitops.EncodedReader
}

func (e encoded) GetEncoded(ctx context.Context, k gitops.Key) (gitops.EncodedServer, error) {
	start := time.Now()
	es, err := e.enc.GetEncoded(ctx, k)
	e.s.done("get_encoded", start, err)
	return es, err
}

func (e encoded) ListEncoded(ctx context.Context, f gitops.Filter) ([]gitops.EncodedServer, int, error) {
	start := time.Now()
	l, n, err := e.enc.ListEncoded(ctx, f)
	e.s.done("list_encoded", start, err)
	return l, n, err
}

// samples times gitops.SampleReader, the time to read the view only: what
// the scrape then writes is the HTTP request's time.
type samples struct {
	s  *store
	sr gitops.SampleReader
}

func (v samples) ReadSamples(ctx context.Context, fn func(gitops.Samples) error) error {
	start := time.Now()
	var took time.Duration
	err := v.sr.ReadSamples(ctx, func(view gitops.Samples) error {
		took = time.Since(start)
		return fn(view)
	})
	if took == 0 {
		took = time.Since(start) // fn never ran: the read failed
	}
	v.s.m.storeOps["read_samples"].Observe(took.Seconds())
	if !errors.Is(err, errWrite) { // the scrape's client went away
		v.s.countError("read_samples", err)
	}
	return err
}
