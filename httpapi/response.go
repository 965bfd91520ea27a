package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	gitops "github.com/gitops-status/gitops-status"
)

// Header values shared by every answer; net/http never modifies them.
var (
	jsonContentType = []string{"application/json"}
	noSniff         = []string{"nosniff"}
	emptyArray      = []byte("[]\n")
)

// writeJSON writes v as the JSON answer with status code. It marshals first,
// so a value that cannot be marshalled becomes a clean 500, then sets the
// headers, then writes the body.
func (s *Server) writeJSON(w http.ResponseWriter, r *http.Request, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSONBytes(w, code, append(b, '\n'))
}

// writeJSONBytes writes an already marshalled JSON answer.
func writeJSONBytes(w http.ResponseWriter, code int, b []byte) {
	h := w.Header()
	h["Content-Type"] = jsonContentType
	h["X-Content-Type-Options"] = noSniff
	h["Content-Length"] = []string{strconv.Itoa(len(b))}
	w.WriteHeader(code)
	_, _ = w.Write(b)
}

// errorBody is the JSON shape of every error answer.
type errorBody struct {
	Error string `json:"error"`
	Field string `json:"field,omitempty"`
}

// statusOf maps a domain error code to its HTTP status.
func statusOf(code string) int {
	switch code {
	case gitops.EINVALID:
		return http.StatusBadRequest
	case gitops.EUNAUTHORIZED:
		return http.StatusUnauthorized
	case gitops.EFORBIDDEN:
		return http.StatusForbidden
	case gitops.ENOTFOUND:
		return http.StatusNotFound
	case gitops.EMETHOD:
		return http.StatusMethodNotAllowed
	case gitops.ECONFLICT:
		return http.StatusConflict
	case gitops.ETOOLARGE:
		return http.StatusRequestEntityTooLarge
	case gitops.EUNSUPPORTED:
		return http.StatusUnsupportedMediaType
	case gitops.EUNAVAILABLE:
		return http.StatusServiceUnavailable
	default:
		return http.StatusInternalServerError
	}
}

// writeError is the one place errors become HTTP answers. Errors that are
// not *gitops.Error are internal: they are logged with the request id and
// the client only sees that id, never their text. Every answer of 500 or
// more is logged at Error level, every 401 and 403 as a refusal.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	code := gitops.ErrorCode(err)
	status := statusOf(code)
	body := errorBody{Error: gitops.ErrorMessage(err), Field: gitops.ErrorField(err)}
	id := requestID(w)
	if code == gitops.EINTERNAL {
		body.Error = "internal error; the server log has the details under request id " + id
		body.Field = ""
	}
	if status == http.StatusUnauthorized || status == http.StatusForbidden {
		s.logRefusal(r, status, id, body.Error)
	}
	if status >= 500 {
		level := slog.LevelError
		if r.Context().Err() != nil || errors.Is(err, context.Canceled) {
			level = slog.LevelDebug // the client went away; nobody reads this answer
		}
		s.log.LogAttrs(r.Context(), level, "request failed",
			slog.String("request_id", id),
			slog.String("method", r.Method),
			slog.String("path", r.URL.Path),
			slog.Int("status", status),
			slog.String("error", err.Error()))
	}
	b, merr := json.Marshal(body)
	if merr != nil { // strings always marshal; keep a valid answer anyway
		b = []byte(`{"error":"internal error"}`)
		status = http.StatusInternalServerError
	}
	writeJSONBytes(w, status, append(b, '\n'))
}

// logRefusal logs a request refused for its token: 401 at Info (anyone
// can send those), 403 at Warn (a known token trying what it may not is
// worth an operator's look). The token's name is logged, never its secret.
func (s *Server) logRefusal(r *http.Request, status int, id, reason string) {
	level := slog.LevelInfo
	if status == http.StatusForbidden {
		level = slog.LevelWarn
	}
	name := ""
	if p := principalFrom(r.Context()); p != nil {
		name = p.Name
	}
	s.log.LogAttrs(r.Context(), level, "request refused",
		slog.String("request_id", id),
		slog.String("method", r.Method),
		slog.String("path", r.URL.Path),
		slog.Int("status", status),
		slog.String("token", name),
		slog.String("reason", reason))
}

// writeRecord answers 200 with a server record, plus a top-level
// "warnings" list when there are warnings, rendered without reflection
// into a pooled buffer.
func (s *Server) writeRecord(w http.ResponseWriter, srv *gitops.Server, warnings []string) {
	buf := s.getBuf()
	b := appendWarnings(srv.AppendJSON(buf[:0]), warnings)
	writeJSONBytes(w, http.StatusOK, append(b, '\n'))
	s.putBuf(b)
}

// appendWarnings adds "warnings" to the JSON object that ends obj, as
// json.Marshal of the list would write it. Without warnings obj is left as
// it is.
func appendWarnings(obj []byte, warnings []string) []byte {
	if len(warnings) == 0 {
		return obj
	}
	obj = obj[:len(obj)-1] // the object's closing brace
	if obj[len(obj)-1] != '{' {
		obj = append(obj, ',')
	}
	obj = append(obj, `"warnings":[`...)
	for i, wn := range warnings {
		if i > 0 {
			obj = append(obj, ',')
		}
		obj = gitops.AppendJSONString(obj, wn)
	}
	return append(obj, ']', '}')
}

// Answer buffers. A list answer is written in chunks of about listChunk
// bytes, so a fleet of any size costs one buffer per request and is never
// held whole; buffers that grew past maxPooledBuf (a huge record) are left
// to the garbage collector. 256 KiB chunks, against 32 KiB, cut the CPU of
// GET /status at 10,000 servers by ~10 % (fewer write system calls and
// HTTP chunks) for 2 MiB of buffers across eight concurrent lists.
const (
	listChunk    = 256 << 10
	maxPooledBuf = 1 << 20
)

// getBuf returns an empty pooled buffer.
func (s *Server) getBuf() []byte {
	return (*s.bufPool.Get().(*[]byte))[:0]
}

// putBuf gives b, a buffer from getBuf (possibly grown), back to the pool.
func (s *Server) putBuf(b []byte) {
	if cap(b) > maxPooledBuf {
		return
	}
	b = b[:0]
	s.bufPool.Put(&b)
}

// writeArray answers 200 with a JSON array of n items, appended one at a
// time by item into a pooled buffer that is written out every listChunk
// bytes. An answer that fits in one chunk goes out whole, with a
// Content-Length. total, when >= 0, is sent as X-Total-Count.
//
// An item that cannot be rendered before anything was written gives a clean
// error answer; after that the answer is cut short (the connection is
// aborted), so the client never takes a partial list for a whole one.
func (s *Server) writeArray(w http.ResponseWriter, r *http.Request, n, total int, item func(dst []byte, i int) ([]byte, error)) {
	h := w.Header()
	if total >= 0 {
		h["X-Total-Count"] = []string{strconv.Itoa(total)}
	}
	if n == 0 {
		writeJSONBytes(w, http.StatusOK, emptyArray)
		return
	}
	buf := s.getBuf()
	b := append(buf, '[')
	started := false
	for i := 0; i < n; i++ {
		if i > 0 {
			b = append(b, ',')
		}
		var err error
		if b, err = item(b, i); err != nil {
			s.putBuf(b)
			if !started {
				delete(h, "X-Total-Count")
				s.writeError(w, r, err)
				return
			}
			s.log.LogAttrs(r.Context(), slog.LevelError, "cannot render list item; answer cut short",
				slog.String("request_id", requestID(w)), slog.String("error", err.Error()))
			panic(http.ErrAbortHandler)
		}
		if len(b) >= listChunk {
			s.extendWriteDeadline(w)
			if !started {
				h["Content-Type"] = jsonContentType
				h["X-Content-Type-Options"] = noSniff
				w.WriteHeader(http.StatusOK)
				started = true
			}
			if _, err := w.Write(b); err != nil {
				s.putBuf(b)
				return // the client went away
			}
			b = b[:0]
		}
	}
	b = append(b, ']', '\n')
	if started {
		s.extendWriteDeadline(w)
		_, _ = w.Write(b)
	} else {
		writeJSONBytes(w, http.StatusOK, b)
	}
	s.putBuf(b)
}

// extendWriteDeadline gives the client s.writeTimeout to take the next
// chunk of a long answer. Writers that cannot (a test recorder) are left
// as they are.
func (s *Server) extendWriteDeadline(w http.ResponseWriter) {
	if s.writeTimeout > 0 {
		_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(s.writeTimeout))
	}
}

func mustMarshal(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return append(b, '\n')
}
