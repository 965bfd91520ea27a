// Package ui is the built-in status page of gitops-status (SPEC §3, GET
// /ui): a fleet view at /ui and a server view at /ui/{server_group}/{host},
// rendered on the server from the store, plus the CSS and JavaScript they
// load. It is an adapter like httpapi: it reads through gitops.Store, never
// through HTTP to the service itself, and the program mounts its Routes
// beside the API's. It lists the fleet through gitops.EncodedReader when
// the store is one, as httpapi does, and through Store.List otherwise.
//
// Everything it serves is embedded in the binary and parsed once by New:
// the pages make no request to anything but the service (no CDN, no web
// font), so they work on an air-gapped network. Filtering, sorting and
// grouping happen in Go, so the pages work without JavaScript; the small
// script only refreshes the data in place, submits filters as they change
// and drops empty parameters from shared URLs. Every value is written
// through html/template, which escapes it for its context, and every answer
// carries a Content-Security-Policy that allows no inline script.
package ui

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	gitops "github.com/gitops-status/gitops-status"
)

//go:embed templates/*.html static/*
var files embed.FS

// Paths of the page. Static files live under a segment that cannot be a
// server_group (identifiers start with a letter or digit), so no group is
// ever shadowed by them.
const (
	basePath     = "/ui"
	staticPrefix = "/ui/_static/"
)

// DefaultRefresh is how often the pages refresh their data when
// Config.Refresh is zero.
const DefaultRefresh = 15 * time.Second

// Server view: how many events the history shows unless the URL asks for
// more, and the most it may ask for (GET /status/…/history's bounds).
const (
	defaultEventLimit = 100
	maxEventLimit     = 10000
)

// Config is what the status page needs from the program.
type Config struct {
	// Store is read for every page; required.
	Store gitops.Store
	// Logger receives server errors; nil discards them.
	Logger *slog.Logger
	// Now is the clock relative times are computed with; nil means
	// time.Now. It should be the store's clock, which decides staleness.
	Now func() time.Time
	// Version is shown in the footer.
	Version string
	// Refresh is how often the pages refresh their data; 0 means
	// DefaultRefresh. A page's URL may ask for another interval
	// (?refresh=N seconds, 0 = off).
	Refresh time.Duration
	// CheckToken says whether token may read, for the sign-in form: nil,
	// or an EUNAUTHORIZED (unknown token) or EFORBIDDEN (no read scope)
	// error. Nil means tokens are off, and the form has nothing to do.
	CheckToken func(token string) error
}

// UI serves the status page. It is safe for concurrent use.
type UI struct {
	store   gitops.Store
	log     *slog.Logger
	now     func() time.Time
	version string
	refresh int // seconds

	checkToken func(token string) error

	pages  map[string]*template.Template
	static map[string]asset
	// css, js and icon are the URLs of the static files, versioned by
	// their content so that browsers may cache them for good.
	css, js, icon string

	bufs sync.Pool // *bytes.Buffer for rendered pages
	gzip sync.Pool // *gzip.Writer
}

// asset is an embedded static file.
type asset struct {
	body        []byte
	contentType string
	version     string
}

// New returns the status page for cfg, its templates parsed and its static
// files hashed. It panics when cfg.Store is nil or an embedded template
// does not parse: both are programming errors.
func New(cfg Config) *UI {
	if cfg.Store == nil {
		panic("ui: Config.Store is nil")
	}
	u := &UI{store: cfg.Store, log: cfg.Logger, now: cfg.Now, version: cfg.Version, checkToken: cfg.CheckToken}
	if u.log == nil {
		u.log = slog.New(slog.DiscardHandler)
	}
	if u.now == nil {
		u.now = time.Now
	}
	if cfg.Refresh <= 0 {
		cfg.Refresh = DefaultRefresh
	}
	u.refresh = max(1, int(cfg.Refresh/time.Second))
	u.static = loadStatic()
	u.css = staticURL("ui.css", u.static)
	u.js = staticURL("ui.js", u.static)
	u.icon = staticURL("favicon.svg", u.static)
	u.pages = parsePages()
	u.bufs.New = func() any { return new(bytes.Buffer) }
	return u
}

var templateFuncs = template.FuncMap{
	"has":       func(list []string, s string) bool { return slices.Contains(list, s) },
	"thousands": thousands,
	// perPageValue is a page size as the form sends it: the default as
	// nothing, which the script leaves out of the URL.
	"perPageValue": func(n int) string {
		if n == defaultPerPage {
			return ""
		}
		return strconv.Itoa(n)
	},
	// pagerAt is what the pager template needs: the pages, the number of
	// rows and the label of its navigation landmark (two differ by it).
	"pagerAt": func(p pager, shown int, label string) pagerView {
		return pagerView{Pager: p, Shown: shown, Label: label}
	},
}

// pagerView is the data of the pager template.
type pagerView struct {
	Pager pager
	Shown int
	Label string
}

// parsePages parses each page template with the shared layout, once.
func parsePages() map[string]*template.Template {
	base := template.Must(template.New("layout.html").Funcs(templateFuncs).ParseFS(files, "templates/layout.html"))
	pages := map[string]*template.Template{}
	for _, name := range []string{"fleet", "server", "error", "signin"} {
		t := template.Must(base.Clone())
		pages[name] = template.Must(t.ParseFS(files, "templates/"+name+".html"))
	}
	return pages
}

func loadStatic() map[string]asset {
	m := map[string]asset{}
	entries, err := fs.ReadDir(files, "static")
	if err != nil {
		panic(err)
	}
	types := map[string]string{
		".css": "text/css; charset=utf-8",
		".js":  "text/javascript; charset=utf-8",
		".svg": "image/svg+xml",
	}
	for _, e := range entries {
		b, err := files.ReadFile("static/" + e.Name())
		if err != nil {
			panic(err)
		}
		sum := sha256.Sum256(b)
		m[e.Name()] = asset{body: b, contentType: types[path.Ext(e.Name())], version: hex.EncodeToString(sum[:6])}
	}
	return m
}

func staticURL(name string, m map[string]asset) string {
	a, ok := m[name]
	if !ok {
		panic("ui: no embedded static file " + name)
	}
	return staticPrefix + name + "?v=" + a.version
}

// Route is one endpoint of the page, to be mounted by the program:
// Method and Path form a Go ServeMux pattern. Read routes show data: when
// reads need a token, the program lets them run only with a read
// credential (a bearer token, or the one TokenFromCookie reads), and
// answers others with Denied.
type Route struct {
	Method  string
	Path    string
	Read    bool
	Handler http.Handler
}

// Routes lists the page's endpoints. Every answer carries the security
// headers of setSecurityHeaders.
func (u *UI) Routes() []Route {
	return []Route{
		{"GET", basePath, true, http.HandlerFunc(u.handleFleet)},
		{"GET", staticPrefix + "{file}", false, http.HandlerFunc(u.handleStatic)},
		{"GET", basePath + "/{server_group}", true, http.HandlerFunc(u.handleGroup)},
		{"GET", basePath + "/{server_group}/{host}", true, http.HandlerFunc(u.handleServer)},
		{"POST", basePath + "/login", false, u.crossOrigin(u.handleSignIn)},
		{"POST", basePath + "/logout", false, u.crossOrigin(u.handleSignOut)},
	}
}

// contentSecurityPolicy allows the page its own files and nothing else: no
// inline script or style, no other origin, no framing, forms posting only
// to the service.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; font-src 'none'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

func setSecurityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
}

// page is what the layout needs, around the Data of one page.
type page struct {
	Title   string
	CSS     string
	JS      string
	Icon    string
	Version string
	// Refresh is the refresh interval in seconds, 0 for none.
	Refresh int
	// AsOf is when the data was read.
	AsOf timeCell
	// SignedIn shows the sign-out button: the browser keeps a token.
	SignedIn bool
	Data     any
}

func (u *UI) newPage(title string, now time.Time, refresh int, data any) page {
	return page{
		Title: title, CSS: u.css, JS: u.js, Icon: u.icon, Version: u.version,
		Refresh: refresh, Data: data,
		AsOf: timeCell{Text: now.UTC().Format("15:04:05 UTC"), Exact: now.UTC().Format(exactLayout), ISO: gitops.FormatTime(now)},
	}
}

// handleFleet answers GET /ui: the fleet view.
func (u *UI) handleFleet(w http.ResponseWriter, r *http.Request) {
	q, err := parseFleetQuery(r.URL.Query(), u.refresh)
	if err != nil {
		u.renderError(w, r, err)
		return
	}
	ctx := r.Context()
	now := u.now()
	var f fleet
	err = gitops.ReadSamples(ctx, u.store, func(v gitops.Samples) error {
		// A page's rows are the records the view holds, so they agree
		// with the counts beside them; the store is read only for a record
		// the view cannot give.
		get := func(i int, k gitops.Key) (*gitops.Server, error) {
			if sv, err := v.Record(i); err == nil {
				return &sv, nil
			}
			sv, err := u.store.Get(ctx, k)
			return &sv, err
		}
		f, err = buildFleet(v, get, q, now)
		return err
	})
	if err != nil {
		u.renderError(w, r, err)
		return
	}
	title := "Servers"
	if q.filtered() {
		title = "Servers (" + thousands(f.Shown) + " of " + thousands(f.Total) + ")"
	}
	u.render(w, r, http.StatusOK, "fleet", u.newPage(title, now, q.Refresh, f))
}

// handleGroup answers GET /ui/{server_group} with the fleet view narrowed
// to that group, so that a URL trimmed by hand still leads somewhere.
func (u *UI) handleGroup(w http.ResponseWriter, r *http.Request) {
	g := r.PathValue("server_group")
	if err := gitops.ValidateIdentifier("server_group", g); err != nil {
		u.renderError(w, r, err)
		return
	}
	setSecurityHeaders(w.Header())
	http.Redirect(w, r, fleetQuery{Sort: defaultSort, Groups: []string{g}}.URL(), http.StatusFound)
}

// handleServer answers GET /ui/{server_group}/{host}: the server view.
func (u *UI) handleServer(w http.ResponseWriter, r *http.Request) {
	k := gitops.Key{ServerGroup: r.PathValue("server_group"), Host: r.PathValue("host")}
	if err := gitops.ValidateIdentifier("server_group", k.ServerGroup); err != nil {
		u.renderError(w, r, err)
		return
	}
	if err := gitops.ValidateIdentifier("host", k.Host); err != nil {
		u.renderError(w, r, err)
		return
	}
	v := r.URL.Query()
	limit := defaultEventLimit
	if s := v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxEventLimit {
			u.renderError(w, r, gitops.FieldErrorf("limit", "limit %q is not a number of events from 1 to %d", s, maxEventLimit))
			return
		}
		limit = n
	}
	refresh := u.refresh
	if s := v.Get("refresh"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 || n > maxRefresh {
			u.renderError(w, r, gitops.FieldErrorf("refresh", "refresh %q is not a number of seconds from 0 (off) to %d", s, maxRefresh))
			return
		}
		refresh = n
	}
	s, err := u.store.Get(r.Context(), k)
	if err != nil {
		if gitops.ErrorCode(err) == gitops.ENOTFOUND {
			err = gitops.Errorf(gitops.ENOTFOUND, "There is no server %s. It may have been deleted, or never reported.", k)
		}
		u.renderError(w, r, err)
		return
	}
	events, err := u.store.Events(r.Context(), gitops.EventFilter{ServerGroup: []string{k.ServerGroup}, Host: k.Host, Limit: limit})
	if err != nil {
		u.renderError(w, r, err)
		return
	}
	now := u.now()
	d := buildDetail(&s, events, limit, now)
	d.Refresh = refresh
	u.render(w, r, http.StatusOK, "server", u.newPage(k.Host+" in "+k.ServerGroup, now, refresh, d))
}

// serverPath is the server view's path of k.
func serverPath(k gitops.Key) string {
	return basePath + "/" + k.ServerGroup + "/" + k.Host
}

// handleStatic answers GET /ui/_static/{file}. A request carrying the
// file's current version may be cached for good; any other revalidates.
func (u *UI) handleStatic(w http.ResponseWriter, r *http.Request) {
	a, ok := u.static[r.PathValue("file")]
	if !ok {
		u.renderError(w, r, gitops.Errorf(gitops.ENOTFOUND, "There is no file %s here.", r.URL.Path))
		return
	}
	h := w.Header()
	setSecurityHeaders(h)
	h.Set("Content-Type", a.contentType)
	h.Set("ETag", `"`+a.version+`"`)
	if r.URL.Query().Get("v") == a.version {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "no-cache")
	}
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
}

// errorPage is the Data of the error page.
type errorPage struct {
	Code      int
	Message   string
	RequestID string
}

// renderError answers with an HTML error page: the error's own sentence
// for errors the user can act on, only the request id for internal ones,
// which are logged.
func (u *UI) renderError(w http.ResponseWriter, r *http.Request, err error) {
	code := httpStatus(gitops.ErrorCode(err))
	id := w.Header().Get("X-Request-Id")
	msg := gitops.ErrorMessage(err)
	if code >= 500 {
		u.log.LogAttrs(r.Context(), slog.LevelError, "status page failed",
			slog.String("request_id", id), slog.String("path", r.URL.Path), slog.String("err", err.Error()))
		if code == http.StatusInternalServerError {
			msg = "Something went wrong on the server; its log has the details."
		}
	}
	title := http.StatusText(code)
	p := u.newPage(title, u.now(), 0, errorPage{Code: code, Message: msg, RequestID: id})
	p.AsOf = timeCell{} // no data on this page
	u.render(w, r, code, "error", p)
}

// httpStatus maps a domain error code to the status of the error page.
func httpStatus(code string) int {
	switch code {
	case gitops.EINVALID:
		return http.StatusBadRequest
	case gitops.EUNAUTHORIZED:
		return http.StatusUnauthorized
	case gitops.EFORBIDDEN:
		return http.StatusForbidden
	case gitops.ENOTFOUND:
		return http.StatusNotFound
	case gitops.EUNAVAILABLE:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// render writes page name with data. The page is rendered whole before
// anything is sent, so a failure becomes a clean error page, and it is
// gzipped when the browser accepts it: a 10,000-server fleet is about
// 8 MiB of HTML, a few hundred KiB compressed, every refresh.
func (u *UI) render(w http.ResponseWriter, r *http.Request, code int, name string, p page) {
	buf := u.bufs.Get().(*bytes.Buffer)
	buf.Reset()
	defer u.putBuf(buf)
	p.SignedIn = hasTokenCookie(r) && name != "signin"
	if err := u.pages[name].ExecuteTemplate(buf, "layout", p); err != nil {
		if name == "error" {
			http.Error(w, "the error page failed to render", http.StatusInternalServerError)
			return
		}
		u.renderError(w, r, err)
		return
	}
	h := w.Header()
	setSecurityHeaders(h)
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Vary", "Accept-Encoding")
	if buf.Len() < 1024 || !acceptsGzip(r) {
		h.Set("Content-Length", strconv.Itoa(buf.Len()))
		w.WriteHeader(code)
		_, _ = w.Write(buf.Bytes())
		return
	}
	h.Set("Content-Encoding", "gzip")
	w.WriteHeader(code)
	zw, _ := u.gzip.Get().(*gzip.Writer)
	if zw == nil {
		zw, _ = gzip.NewWriterLevel(w, gzip.BestSpeed)
	} else {
		zw.Reset(w)
	}
	_, _ = io.Copy(zw, buf)
	_ = zw.Close()
	u.gzip.Put(zw)
}

// putBuf keeps rendering buffers for reuse, but not the few huge ones a
// large fleet needs, which would pin their memory for good.
func (u *UI) putBuf(b *bytes.Buffer) {
	if b.Cap() <= 1<<20 {
		u.bufs.Put(b)
	}
}

func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		enc, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(enc), "gzip") {
			qv, ok := strings.CutPrefix(strings.ReplaceAll(params, " ", ""), "q=")
			if !ok {
				return true
			}
			f, err := strconv.ParseFloat(qv, 64)
			return err == nil && f > 0
		}
	}
	return false
}
