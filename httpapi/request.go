package httpapi

import (
	"bytes"
	"errors"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	gitops "github.com/gitops-status/gitops-status"
)

// maxPooledBody is the largest body buffer kept for reuse; bigger ones are
// left to the garbage collector so one huge request does not pin memory.
const maxPooledBody = 64 << 10

// readBody checks the Content-Type and reads the body, at most
// s.maxBodyBytes of it, into a pooled buffer. The caller must give the
// buffer back with s.putBody once it no longer needs the bytes; the domain
// parsers copy what they keep.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) (*bytes.Buffer, error) {
	if err := checkContentType(r.Header.Get("Content-Type")); err != nil {
		return nil, err
	}
	if r.ContentLength > s.maxBodyBytes {
		return nil, s.tooLarge()
	}
	buf := s.bodyPool.Get().(*bytes.Buffer)
	buf.Reset()
	if r.ContentLength > 0 {
		buf.Grow(int(r.ContentLength))
	}
	if r.Body != nil {
		if _, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, s.maxBodyBytes)); err != nil {
			s.putBody(buf)
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return nil, s.tooLarge()
			}
			return nil, gitops.Errorf(gitops.EINVALID, "the request body could not be read: %v", err)
		}
	}
	return buf, nil
}

func (s *Server) putBody(buf *bytes.Buffer) {
	if buf.Cap() <= maxPooledBody {
		s.bodyPool.Put(buf)
	}
}

func (s *Server) tooLarge() error {
	return gitops.Errorf(gitops.ETOOLARGE, "request body is larger than %d bytes", s.maxBodyBytes)
}

// checkContentType accepts application/json with any parameters (such as
// charset), in any letter case, and a missing Content-Type, which v2.0
// clients that forgot the header relied on.
func checkContentType(ct string) error {
	if ct == "" || ct == "application/json" {
		return nil
	}
	mt := ct
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		mt = ct[:i]
	}
	if strings.EqualFold(strings.TrimSpace(mt), "application/json") {
		return nil
	}
	return gitops.Errorf(gitops.EUNSUPPORTED, "Content-Type %q is not accepted; send the body as JSON with Content-Type: application/json", ct)
}

// query is a request's parsed query string; the zero value (no query) is
// valid and allocates nothing.
type query url.Values

func parseQuery(r *http.Request) (query, error) {
	if r.URL.RawQuery == "" {
		return nil, nil
	}
	v, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, gitops.Errorf(gitops.EINVALID, "the query string is malformed: %v", err)
	}
	return query(v), nil
}

// values returns the non-empty values of a parameter: a repeated parameter
// means OR, and an empty value (?status=) is the same as none, as Grafana
// sends for an empty multi-value variable.
func (q query) values(name string) []string {
	vs := q[name]
	for _, v := range vs {
		if v == "" {
			out := make([]string, 0, len(vs))
			for _, v := range vs {
				if v != "" {
					out = append(out, v)
				}
			}
			return out
		}
	}
	return vs
}

// first returns the first non-empty value of a parameter, or "".
func (q query) first(name string) string {
	for _, v := range q[name] {
		if v != "" {
			return v
		}
	}
	return ""
}

func (q query) identifiers(name string) ([]string, error) {
	vs := q.values(name)
	for _, v := range vs {
		if err := gitops.ValidateIdentifier(name, v); err != nil {
			return nil, err
		}
	}
	return vs, nil
}

func (q query) statuses(name string) ([]gitops.Status, error) {
	vs := q.values(name)
	if len(vs) == 0 {
		return nil, nil
	}
	out := make([]gitops.Status, len(vs))
	for i, v := range vs {
		st, err := gitops.ParseStatus(name, v)
		if err != nil {
			return nil, err
		}
		out[i] = st
	}
	return out, nil
}

func (q query) validationStatuses(name string) ([]gitops.ValidationStatus, error) {
	vs := q.values(name)
	if len(vs) == 0 {
		return nil, nil
	}
	out := make([]gitops.ValidationStatus, len(vs))
	for i, v := range vs {
		st, err := gitops.ParseValidationStatus(name, v)
		if err != nil {
			return nil, err
		}
		out[i] = st
	}
	return out, nil
}

func (q query) boolean(name string) (*bool, error) {
	v := q.first(name)
	switch {
	case v == "":
		return nil, nil
	case strings.EqualFold(v, "true"):
		t := true
		return &t, nil
	case strings.EqualFold(v, "false"):
		f := false
		return &f, nil
	}
	return nil, gitops.FieldErrorf(name, "%s %q is not \"true\" or \"false\"", name, v)
}

// integer reads a whole number in [lo, hi], def when absent.
func (q query) integer(name string, lo, hi, def int) (int, error) {
	v := q.first(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		if hi == math.MaxInt {
			return 0, gitops.FieldErrorf(name, "%s %q is not a whole number of at least %d", name, v, lo)
		}
		return 0, gitops.FieldErrorf(name, "%s %q is not a whole number from %d to %d", name, v, lo, hi)
	}
	return n, nil
}

// time reads an RFC 3339 time (read leniently, as records are) or an epoch
// time: Grafana's ${__from} and ${__to} give milliseconds,
// ${__from:date:seconds} gives seconds (see parseQueryTime).
func (q query) time(name string) (time.Time, error) {
	v := q.first(name)
	if v == "" {
		return time.Time{}, nil
	}
	if t, ok := parseQueryTime(v); ok {
		return t, nil
	}
	return time.Time{}, gitops.FieldErrorf(name, "%s %q is not an RFC 3339 time such as \"2026-04-26T10:30:00Z\" or epoch seconds or milliseconds (all digits: below 100000000000 seconds, else milliseconds), in the years 0001 to 9999", name, v)
}

// epochSecondsBelow is where an all-digit time stops being epoch seconds
// and becomes epoch milliseconds (SPEC §3): 10^11 seconds is the year 5138,
// 10^11 milliseconds is March 1973, so neither reading of a time a
// dashboard asks for is ambiguous.
const epochSecondsBelow = 100_000_000_000

// parseQueryTime reads a query time: RFC 3339 (leniently), or all digits,
// epoch seconds below epochSecondsBelow and epoch milliseconds from there.
func parseQueryTime(v string) (time.Time, bool) {
	var t time.Time
	var err error
	if isDigits(v) {
		var n int64
		if n, err = strconv.ParseInt(v, 10, 64); err == nil {
			if n < epochSecondsBelow {
				t = time.Unix(n, 0).UTC()
			} else {
				t = time.UnixMilli(n).UTC()
			}
		}
	} else if t, err = gitops.ParseTime(v); err != nil {
		// An unescaped "+03:00" offset arrives as " 03:00" in a query string.
		if i := strings.LastIndexByte(v, ' '); i > len("2006-01-02") {
			t, err = gitops.ParseTime(v[:i] + "+" + v[i+1:])
		}
	}
	if err != nil || t.Year() < 1 || t.Year() > 9999 {
		return time.Time{}, false
	}
	return t, true
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// filter reads the filters and paging GET /status and
// GET /status/{server_group} take.
func (q query) filter() (gitops.Filter, error) {
	var f gitops.Filter
	var err error
	if len(q) == 0 {
		return f, nil
	}
	if f.ServerGroup, err = q.identifiers("server_group"); err != nil {
		return f, err
	}
	if f.Host, err = q.identifiers("host"); err != nil {
		return f, err
	}
	f.ServerType = q.values("server_type")
	f.Environment = q.values("environment")
	if f.Status, err = q.statuses("status"); err != nil {
		return f, err
	}
	if f.ValidationStatus, err = q.validationStatuses("validation_status"); err != nil {
		return f, err
	}
	if f.Stale, err = q.boolean("stale"); err != nil {
		return f, err
	}
	if f.Behind, err = q.boolean("behind"); err != nil {
		return f, err
	}
	if f.Limit, err = q.integer("limit", 1, math.MaxInt, 0); err != nil {
		return f, err
	}
	if f.Offset, err = q.integer("offset", 0, math.MaxInt, 0); err != nil {
		return f, err
	}
	return f, nil
}

// narrows reports whether f selects fewer servers than its server_group
// alone would, before paging.
func narrows(f gitops.Filter) bool {
	return len(f.Host) > 0 || len(f.ServerType) > 0 || len(f.Environment) > 0 ||
		len(f.Status) > 0 || len(f.ValidationStatus) > 0 || f.Stale != nil || f.Behind != nil
}

// Limits of the event endpoints.
const (
	maxEventLimit       = 10000
	defaultHistoryLimit = 100
	defaultEventsLimit  = 1000
)

// pathIdentifier reads a {server_group} or {host} path segment.
func pathIdentifier(r *http.Request, name string) (string, error) {
	v := r.PathValue(name)
	if err := gitops.ValidateIdentifier(name, v); err != nil {
		return "", err
	}
	return v, nil
}

// notFound is the 404 of a server that does not exist.
func notFound(k gitops.Key) error {
	return gitops.Errorf(gitops.ENOTFOUND, "server %s not found", k)
}

// groupNotFound is the 404 of a group without servers.
func groupNotFound(g string) error {
	return gitops.Errorf(gitops.ENOTFOUND, "server group %s not found", g)
}
