// Package httpapi is the HTTP adapter of gitops-status: it serves the JSON
// API of SPEC §3 (the v2.0 endpoints, the legacy v1 ones and those added
// beyond the seed) over a gitops.Store.
//
// Every route is listed in one function (routes). Every error answer goes
// through writeError and is a JSON object {"error": "<sentence>", "field":
// "<name>"}, also for unknown routes (404) and wrong methods (405, with an
// Allow header). Every response carries the request id in X-Request-Id: the
// client's own when it sent a usable one, else a generated one.
package httpapi

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	gitops "github.com/gitops-status/gitops-status"
)

// Defaults applied by New when the Config leaves a value at zero.
const (
	DefaultMaxBodyBytes = 1 << 20
	DefaultMaxClockSkew = 5 * time.Minute
)

// Config is what the HTTP API needs from the program.
type Config struct {
	// Store keeps the servers; required.
	Store gitops.Store
	// Logger receives the access log (Debug) and server errors (Error);
	// nil discards everything.
	Logger *slog.Logger
	// Now is the server's clock, used to validate reported times; nil means
	// time.Now. Stores have their own clock (gitops.StoreOptions.Now).
	Now func() time.Time
	// Version is the software version GET / reports.
	Version string
	// MaxBodyBytes limits request bodies; 0 means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// MaxClockSkew is how far ahead of Now a reported time may be; 0 means
	// DefaultMaxClockSkew.
	MaxClockSkew time.Duration
	// LegacyGroup is the server_group legacy v1 updates go to and that
	// GET /api/status?server=HOST prefers; "" means the v1 repo.
	LegacyGroup string

	// Metrics, when set, serves GET /metrics (listed with the other
	// routes); nil leaves the route out.
	Metrics http.Handler
	// ObserveRequest, when set, is called after every answered request
	// with the route pattern that took it (http.Request.Pattern, "" when
	// none did), the status code and the time to answer, body included.
	ObserveRequest func(pattern string, code int, d time.Duration)
	// WriteTimeout, when set, is the server's write timeout (the
	// http.Server's): a long list answer moves the connection's write
	// deadline this far ahead before each chunk it writes, so a client that
	// keeps reading gets the whole answer however long it is, and one that
	// stops reading is dropped after this long. 0 leaves deadlines alone.
	WriteTimeout time.Duration
	// Auth checks bearer tokens; nil turns authentication off, as in v2.0:
	// every route is open and updated_by is what the body says.
	Auth Authenticator
	// Routes are endpoints of other adapters (the status page) served beside
	// the API's own, so that the program mounts them without httpapi
	// importing them. They get the request id, the access log and the token
	// check, are listed by GET / after the API's routes, and answer for
	// themselves otherwise (their own content type and error pages). A
	// pattern that conflicts with the API's makes New panic, as ServeMux
	// does.
	Routes []Route
}

// Route is an endpoint mounted through Config.Routes: Method and Path form
// a Go ServeMux pattern ("GET", "/ui/{server_group}/{host}").
type Route struct {
	Method string
	Path   string
	// Read marks a route that shows data: while reads are protected it
	// needs a token with the read scope, as GET /status does. Other routes
	// are open.
	Read bool
	// Credential, when set, is where the route's token comes from when the
	// request has no Authorization header (the status page's cookie). It is
	// consulted on this route only, so it can never authorize a write.
	Credential func(*http.Request) (token string, ok bool)
	// Denied, when set, answers a request the token check refused instead
	// of the JSON error (the status page's sign-in form); err is the
	// EUNAUTHORIZED or EFORBIDDEN error.
	Denied  func(w http.ResponseWriter, r *http.Request, err error)
	Handler http.Handler
}

// Authenticator knows the configured tokens (package auth implements it).
// Its methods are called on every request that needs a scope, concurrently.
type Authenticator interface {
	// Authenticate returns the principal of a bearer token, or an
	// EUNAUTHORIZED error when no configured token matches.
	Authenticate(token string) (*gitops.Principal, error)
	// ReadsProtected reports whether reads need a token with the read
	// scope (some configured token has it); otherwise reads are open.
	ReadsProtected() bool
}

// Server serves the API. It holds no mutable state besides pools and a
// request counter, and is safe for concurrent use.
type Server struct {
	store        gitops.Store
	log          *slog.Logger
	now          func() time.Time
	version      string
	maxBodyBytes int64
	maxClockSkew time.Duration
	legacyGroup  string
	metrics      http.Handler
	observe      func(pattern string, code int, d time.Duration)
	auth         Authenticator
	writeTimeout time.Duration

	mux     *http.ServeMux
	handler http.Handler
	// endpoints lists "METHOD /path" of every route, in routes() order.
	endpoints []string
	// indexBody is the pre-rendered answer of GET /.
	indexBody []byte

	// reqIDPrefix and reqIDSeq make generated request ids: unique per
	// process start, cheap to make.
	reqIDPrefix string
	reqIDSeq    atomic.Uint64

	bodyPool sync.Pool // *bytes.Buffer for request bodies
	bufPool  sync.Pool // *[]byte for answers (getBuf, putBuf)

	// encoded is the store as a gitops.EncodedReader when it is one: record
	// reads then copy the stored encoding instead of decoding and encoding
	// every record again.
	encoded gitops.EncodedReader
}

// New returns a Server for cfg. It panics when cfg.Store is nil, a
// programming error.
func New(cfg Config) *Server {
	if cfg.Store == nil {
		panic("httpapi: Config.Store is nil")
	}
	s := &Server{
		store:        cfg.Store,
		log:          cfg.Logger,
		now:          cfg.Now,
		version:      cfg.Version,
		maxBodyBytes: cfg.MaxBodyBytes,
		maxClockSkew: cfg.MaxClockSkew,
		legacyGroup:  cfg.LegacyGroup,
		metrics:      cfg.Metrics,
		observe:      cfg.ObserveRequest,
		auth:         cfg.Auth,
		writeTimeout: cfg.WriteTimeout,
		mux:          http.NewServeMux(),
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.maxBodyBytes <= 0 {
		s.maxBodyBytes = DefaultMaxBodyBytes
	}
	if s.maxClockSkew == 0 {
		s.maxClockSkew = DefaultMaxClockSkew
	}
	var seed [6]byte
	_, _ = rand.Read(seed[:]) // never fails (crypto/rand panics instead)
	s.reqIDPrefix = hex.EncodeToString(seed[:]) + "-"
	s.bodyPool.New = func() any { return new(bytes.Buffer) }
	s.bufPool.New = func() any {
		// Enough for a record; a list grows it to a chunk (and the record
		// that crosses it) once, and the pool keeps it at that size.
		b := make([]byte, 0, 16<<10)
		return &b
	}
	s.encoded, _ = cfg.Store.(gitops.EncodedReader)

	for _, rt := range s.routes() {
		s.handle(rt, s.guard(rt, nil, nil))
	}
	for _, rt := range cfg.Routes {
		need := open
		if rt.Read {
			need = read
		}
		mounted := route{rt.Method, rt.Path, need, rt.Handler.ServeHTTP}
		s.handle(mounted, s.guard(mounted, rt.Credential, rt.Denied))
	}
	s.indexBody = mustMarshal(index{
		Name:        "gitops-status",
		Version:     s.version,
		APIVersion:  "2.0",
		Endpoints:   s.endpoints,
		AuthEnabled: s.auth != nil,
	})
	s.handler = http.HandlerFunc(s.serve)
	return s
}

// handle registers rt's pattern with h, and lists it for GET /.
func (s *Server) handle(rt route, h http.HandlerFunc) {
	pattern := rt.method + " " + rt.path
	if rt.path == "/" {
		pattern = rt.method + " /{$}" // "/" alone would match every path
	}
	s.mux.HandleFunc(pattern, h)
	s.endpoints = append(s.endpoints, rt.method+" "+rt.path)
}

// route is one endpoint: a method, a Go 1.22 ServeMux path, the scope a
// token needs to call it and its handler.
type route struct {
	method string
	path   string
	// need is the scope the route needs when authentication is on: open
	// ("") for none; read routes are open too until some token has the
	// read scope (gitops.Authorize).
	need    gitops.Scope
	handler http.HandlerFunc
}

// Scopes of the route table. A route that names a server_group it writes
// also checks the token's groups, once it knows the group (s.writeGroup).
const (
	open     gitops.Scope = ""
	read                  = gitops.ScopeRead
	pipeline              = gitops.ScopePipeline
	cron                  = gitops.ScopeCron
	admin                 = gitops.ScopeAdmin
)

// routes lists every endpoint of the API and the scope it needs (SPEC §8).
// GET / lists them in this order.
//
// Method-distinct patterns let GET /status/pipeline read a group called
// "pipeline" while POST /status/pipeline takes deployment reports.
func (s *Server) routes() []route {
	rs := []route{
		{"GET", "/", open, s.handleIndex},
		{"GET", "/health", open, s.handleHealth},
		{"GET", "/ready", open, s.handleReady},

		{"POST", "/status/pipeline", pipeline, s.handlePipeline},
		{"POST", "/status/cron", cron, s.handleCron},
		{"GET", "/status", read, s.handleList},
		{"GET", "/status/{server_group}", read, s.handleGroup},
		{"GET", "/status/{server_group}/{host}", read, s.handleGet},
		{"DELETE", "/status/{server_group}/{host}", admin, s.handleDelete},
		{"GET", "/status/{server_group}/{host}/history", read, s.handleHistory},

		{"GET", "/events", read, s.handleEvents},
		{"GET", "/summary", read, s.handleSummary},

		{"POST", "/desired", pipeline, s.handleSetHead},
		{"GET", "/desired", read, s.handleHeads},
		{"DELETE", "/desired/{repo_name}/{branch}", admin, s.handleDeleteHead},

		{"GET", "/api/status", read, s.handleLegacyGet},
		{"POST", "/api/status", pipeline, s.handleLegacyPost},

		{"GET", "/openapi.yaml", open, s.handleOpenAPI},
	}
	if s.metrics != nil {
		rs = append(rs, route{"GET", "/metrics", read, s.metrics.ServeHTTP})
	}
	return rs
}

// Handler returns the http.Handler serving the API.
func (s *Server) Handler() http.Handler { return s.handler }

// requestIDHeader carries the request id both ways.
const requestIDHeader = "X-Request-Id"

// serve is the front of every request: it settles the request id, turns the
// mux's own plain-text 404 and 405 answers into JSON errors, recovers from
// panics and writes the access log.
func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	id := r.Header.Get(requestIDHeader)
	if !validRequestID(id) {
		id = s.newRequestID()
	}
	rw := &responseWriter{ResponseWriter: w, r: r, s: s, id: [1]string{id}}
	w.Header()[requestIDHeader] = rw.id[:] // one allocation for both
	defer func() {
		v := recover()
		if v != nil && v != http.ErrAbortHandler {
			s.log.LogAttrs(r.Context(), slog.LevelError, "panic serving request",
				slog.String("request_id", id), slog.String("method", r.Method),
				slog.String("path", r.URL.Path), slog.Any("panic", v))
			if rw.code == 0 {
				s.writeError(rw, r, fmt.Errorf("panic: %v", v))
				v = nil
			}
		}
		d := time.Since(start)
		if s.observe != nil {
			s.observe(r.Pattern, rw.code, d)
		}
		s.accessLog(r, rw.code, d, id)
		if v != nil {
			// The answer is under way: cut it short so the client sees a
			// broken answer rather than a complete-looking one.
			panic(http.ErrAbortHandler)
		}
	}()
	s.mux.ServeHTTP(rw, r)
	if rw.code == 0 {
		rw.code = http.StatusOK // a handler that wrote nothing answers 200
	}
}

func (s *Server) accessLog(r *http.Request, code int, d time.Duration, id string) {
	ctx := r.Context()
	if !s.log.Enabled(ctx, slog.LevelDebug) {
		return
	}
	s.log.LogAttrs(ctx, slog.LevelDebug, "request",
		slog.String("method", r.Method),
		slog.String("pattern", r.Pattern),
		slog.String("path", r.URL.Path),
		slog.Int("status", code),
		slog.Duration("duration", d),
		slog.String("request_id", id))
}

// validRequestID accepts a client's request id when it is short, printable
// ASCII without spaces, so it can go into logs and headers as it is.
func validRequestID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] <= ' ' || id[i] > '~' {
			return false
		}
	}
	return true
}

func (s *Server) newRequestID() string {
	var b [40]byte
	buf := append(b[:0], s.reqIDPrefix...)
	buf = strconv.AppendUint(buf, s.reqIDSeq.Add(1), 36)
	return string(buf)
}

// requestID returns the id serve gave the request, which it echoes in the
// response headers.
func requestID(w http.ResponseWriter) string {
	if v := w.Header()[requestIDHeader]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// responseWriter records the status for the access log and replaces the
// mux's plain-text "404 page not found" and "405 method not allowed"
// answers with JSON errors. The mux writes those from its own handlers,
// recognisable because no route matched, so r.Pattern is "".
type responseWriter struct {
	http.ResponseWriter
	r    *http.Request
	s    *Server
	code int
	// swallow drops the body of a mux error that was replaced.
	swallow bool
	// id backs the X-Request-Id header value.
	id [1]string
}

func (w *responseWriter) WriteHeader(code int) {
	if w.code != 0 {
		return
	}
	if w.r.Pattern == "" && (code == http.StatusNotFound || code == http.StatusMethodNotAllowed) {
		w.swallow = true
		w.code = code
		w.s.writeRouteError(w.ResponseWriter, w.r, code)
		return
	}
	w.code = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *responseWriter) Write(b []byte) (int, error) {
	if w.swallow {
		return len(b), nil
	}
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Flush sends what was written so far.
func (w *responseWriter) Flush() {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// Unwrap lets http.ResponseController reach the connection.
func (w *responseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// writeRouteError answers a request no route took.
func (s *Server) writeRouteError(w http.ResponseWriter, r *http.Request, code int) {
	if code == http.StatusMethodNotAllowed {
		allow := w.Header().Get("Allow")
		s.writeError(w, r, gitops.Errorf(gitops.EMETHOD, "method %s is not allowed on %s; allowed: %s", r.Method, r.URL.Path, allow))
		return
	}
	s.writeError(w, r, gitops.Errorf(gitops.ENOTFOUND, "%s %s is not an endpoint of this API; GET / lists them", r.Method, r.URL.Path))
}
