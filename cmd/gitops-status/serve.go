package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"runtime/debug"
	"time"

	gitops "github.com/gitops-status/gitops-status"
	"github.com/gitops-status/gitops-status/auth"
	"github.com/gitops-status/gitops-status/githook"
	"github.com/gitops-status/gitops-status/httpapi"
	"github.com/gitops-status/gitops-status/metrics"
	"github.com/gitops-status/gitops-status/ui"
)

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer, version string) error {
	var cfg serveConfig
	fs := newFlagSet("serve", "")
	cfg.register(fs)
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("serve takes no arguments, got %q", fs.Args())}
	}
	if err := cfg.validate(); err != nil {
		return err
	}
	logger, err := newLogger(stderr, cfg.LogFormat, cfg.LogLevel)
	if err != nil {
		return err
	}
	// Tokens and certificate first: a mistake in them stops the start with
	// one line, before anything else is opened or logged.
	authn, authWarnings, err := loadAuth(cfg)
	if err != nil {
		return err
	}
	hooks, err := loadWebhooks(cfg)
	if err != nil {
		return err
	}
	var certs *certHolder
	if cfg.TLSCert != "" {
		if certs, err = newCertHolder(cfg.TLSCert, cfg.TLSKey); err != nil {
			return err
		}
	}

	tuneGC(logger)
	m := metrics.New(metrics.Options{Version: version, Logger: logger})
	raw, err := openServeStore(ctx, cfg.storeConfig, m.ObserveBatch)
	if err != nil {
		return err
	}
	store := m.InstrumentStore(raw)
	defer func() {
		if err := store.Close(); err != nil {
			logger.Error("closing the store", "err", err)
		}
	}()
	backend := "sqlite"
	if cfg.DatabaseURL != "" {
		backend = "postgres"
	}
	logger.Info("store open", "backend", backend, "data_dir", cfg.DataDir)
	warnSettings(ctx, raw, logger)
	logAuth(logger, authn, authWarnings)
	if certs != nil {
		certs.logCert(logger, "TLS certificate loaded")
	}
	notifier := startNotify(ctx, cfg, raw, store, m, logger, hooks)
	reloadOnHUP(ctx, logger, authn, certs, notifier)

	importOnFirstStart(ctx, store, cfg, logger)
	go pruneEvents(ctx, store, cfg.HistoryRetention, logger)

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("cannot listen on %s: %v", cfg.Addr, err)
	}
	if cfg.DebugAddr != "" {
		dln, err := net.Listen("tcp", cfg.DebugAddr)
		if err != nil {
			ln.Close()
			return fmt.Errorf("cannot listen on --debug-addr %s: %v", cfg.DebugAddr, err)
		}
		defer dln.Close()
		go serveDebug(dln, logger)
	}
	api := httpapi.New(httpapi.Config{
		Store:        store,
		Logger:       logger,
		Version:      version,
		MaxBodyBytes: cfg.MaxBodyBytes,
		MaxClockSkew: cfg.MaxClockSkew,
		LegacyGroup:  cfg.LegacyGroup,
		Auth:         authenticator(authn),
		WriteTimeout: cfg.WriteTimeout,
		// GET /metrics and the request metrics (see package metrics).
		Metrics:        m.Handler(store, cfg.WriteTimeout),
		ObserveRequest: m.ObserveRequest,
		Routes:         append(uiRoutes(store, logger, version, authn), hookRoutes(store, logger, cfg)...),
	})
	// Every deadline is set, so a client that sends or reads slowly
	// (slowloris) is dropped instead of holding a connection for ever.
	// WriteTimeout bounds an answer; the API extends it for each chunk of
	// a long list, so a 100 MB GET /status reaches a slow but reading
	// client.
	srv := &http.Server{
		Handler:           api.Handler(),
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		ReadTimeout:       cfg.ReadTimeout,
		WriteTimeout:      cfg.WriteTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		MaxHeaderBytes:    cfg.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	if certs != nil {
		srv.TLSConfig = certs.tlsConfig()
	}
	errc := make(chan error, 1)
	go func() {
		if certs != nil {
			errc <- srv.ServeTLS(ln, "", "") // the certificate comes from TLSConfig
		} else {
			errc <- srv.Serve(ln)
		}
	}()
	logger.Info("listening", "addr", ln.Addr().String(), "tls", cfg.TLSCert != "", "version", version)

	select {
	case err := <-errc:
		return fmt.Errorf("serving: %v", err)
	case <-ctx.Done():
	}
	// Stop accepting and let in-flight requests finish; the store closes
	// after (deferred above), so every acknowledged write is committed.
	logger.Info("shutting down", "timeout", cfg.ShutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		logger.Warn("in-flight requests did not finish in time", "err", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serving: %v", err)
	}
	notifier.wait()
	logger.Info("stopped")
	return nil
}

// serveDebug serves Go's profiles on their own listener, so that they are
// never reachable on the service's address: they show the process's
// internals. It ends when ln is closed.
func serveDebug(ln net.Listener, logger *slog.Logger) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	logger.Info("serving profiles", "addr", ln.Addr().String(), "path", "/debug/pprof/")
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	if err := srv.Serve(ln); err != nil && !errors.Is(err, net.ErrClosed) {
		logger.Warn("profile listener stopped", "err", err)
	}
}

// warnSettings logs, as warnings, the database settings the store says
// will slow it down over time (PostgreSQL with autovacuum off). Failing to
// read them is not worth more than a debug line: the store works either way.
func warnSettings(ctx context.Context, store gitops.Store, logger *slog.Logger) {
	ws, ok := store.(interface {
		SettingWarnings(context.Context) ([]string, error)
	})
	if !ok {
		return
	}
	warnings, err := ws.SettingWarnings(ctx)
	if err != nil {
		logger.Debug("could not read the database settings", "err", err)
		return
	}
	for _, w := range warnings {
		logger.Warn(w)
	}
}

// defaultGCPercent is the GOGC serve runs with unless GOGC or GOMEMLIMIT
// is set. Most of the heap is long-lived (the store's index of encoded
// records, on either backend), so Go's default of 100 would let the
// process grow to twice that before collecting; 50 keeps RSS near 1.5× the
// live data. Since the index lives in chunks the collector does not walk,
// the extra collections cost no measurable CPU: PostgreSQL replicas at
// 300,000 servers went from 947–962 to 766–781 MiB at the same CPU per
// report (docs/performance.md).
const defaultGCPercent = 50

func tuneGC(logger *slog.Logger) {
	if os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	debug.SetGCPercent(defaultGCPercent)
	logger.Debug("GC tuned", "gogc", defaultGCPercent)
}

func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, usageError{fmt.Sprintf("--log-level %q: use debug, info, warn or error", level)}
	}
	opts := &slog.HandlerOptions{Level: lv}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return slog.New(slog.NewTextHandler(w, opts)), nil
}

// importOnFirstStart imports the status.json of a v1 or v2.0 installation
// when the store is new. The store records the import, so it happens once,
// also with several replicas; the file is never modified. A file that cannot
// be read is logged and left for a later start: the service still serves.
func importOnFirstStart(ctx context.Context, store gitops.Store, cfg serveConfig, logger *slog.Logger) {
	// A store that holds servers never imports: skip reading and parsing a
	// possibly large file on every restart.
	if _, total, err := store.List(ctx, gitops.Filter{Limit: 1}); err == nil && total > 0 {
		return
	}
	data, err := os.ReadFile(cfg.ImportFile)
	if errors.Is(err, os.ErrNotExist) {
		return
	}
	if err != nil {
		logger.Error("cannot read the import file; nothing imported", "file", cfg.ImportFile, "err", err)
		return
	}
	doc, err := gitops.ParseDocument(data, gitops.ParseOptions{Now: time.Now(), LegacyGroup: cfg.LegacyGroup})
	if err != nil {
		logger.Error("the import file is not a v1 or v2 status.json; nothing imported", "file", cfg.ImportFile, "err", gitops.ErrorMessage(err))
		return
	}
	done, err := store.Import(ctx, doc.Servers, gitops.ImportFirstStart)
	if err != nil {
		logger.Error("first-start import failed; nothing imported", "file", cfg.ImportFile, "err", err)
		return
	}
	if !done {
		logger.Debug("import file ignored: the store already imported or holds servers", "file", cfg.ImportFile)
		return
	}
	if err := store.ImportHeads(ctx, doc.Heads); err != nil {
		logger.Error("first-start import of the heads (\"desired\") failed; the servers were imported", "file", cfg.ImportFile, "err", err)
	}
	for _, s := range doc.Skipped {
		logger.Warn("import skipped a record", "file", cfg.ImportFile, "reason", s)
	}
	logger.Info("imported status.json on first start", "file", cfg.ImportFile, "format", doc.Format,
		"imported", len(doc.Servers), "skipped", len(doc.Skipped))
	// The file, its parsed records and the import's batches are garbage
	// now, several times the size of what the store keeps: hand their
	// memory back to the system at once instead of over the runtime's
	// background release (at 100,000 servers, RSS at /ready went from
	// 343 MiB to 158 MiB).
	debug.FreeOSMemory()
}

// pruneEvents deletes events past the retention now and every hour.
func pruneEvents(ctx context.Context, store gitops.Store, retention time.Duration, logger *slog.Logger) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		// With retention off no event is old enough (the zero time), but
		// the call still lets the store prune its own logs (PostgreSQL's
		// change log), which must not grow forever.
		var before time.Time
		if retention > 0 {
			before = time.Now().Add(-retention)
		}
		n, err := store.PruneEvents(ctx, before)
		switch {
		case err != nil && ctx.Err() == nil:
			logger.Warn("pruning events failed; will retry", "err", err)
		case n > 0:
			logger.Info("pruned events", "count", n, "older_than", retention)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// hookRoutes mounts POST /hooks/git (package githook) when a webhook
// secret is configured; without one the route does not exist (404). The
// signature is its authentication, so it is an open route: it needs no
// bearer token, also with a tokens file.
func hookRoutes(store gitops.Store, logger *slog.Logger, cfg serveConfig) []httpapi.Route {
	if cfg.GitWebhookSecret == "" {
		return nil
	}
	h := githook.New(githook.Config{Store: store, Secret: cfg.GitWebhookSecret, MaxBodyBytes: cfg.MaxBodyBytes, Logger: logger})
	return []httpapi.Route{{Method: "POST", Path: "/hooks/git", Handler: h}}
}

// uiRoutes mounts the status page (package ui) beside the API. With
// tokens, its pages need a read token like GET /status; the browser may
// keep one in the page's cookie (accepted on the page's routes only), and
// a refused page answers with its sign-in form.
func uiRoutes(store gitops.Store, logger *slog.Logger, version string, authn *auth.Authenticator) []httpapi.Route {
	cfg := ui.Config{Store: store, Logger: logger, Version: version}
	if authn != nil {
		cfg.CheckToken = func(token string) error {
			p, err := authn.Authenticate(token)
			if err != nil {
				return err
			}
			// A token that may read even while reads are open, so the
			// cookie keeps working when a read token is added later.
			return gitops.Authorize(p, gitops.ScopeRead, true, "GET /ui")
		}
	}
	page := ui.New(cfg)
	var routes []httpapi.Route
	for _, rt := range page.Routes() {
		routes = append(routes, httpapi.Route{
			Method: rt.Method, Path: rt.Path, Read: rt.Read, Handler: rt.Handler,
			Credential: ui.TokenFromCookie, Denied: page.Denied,
		})
	}
	return routes
}
