package httpapi

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"

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
// more is logged at Error level.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	code := gitops.ErrorCode(err)
	status := statusOf(code)
	body := errorBody{Error: gitops.ErrorMessage(err), Field: gitops.ErrorField(err)}
	id := requestID(w)
	if code == gitops.EINTERNAL {
		body.Error = "internal error; the server log has the details under request id " + id
		body.Field = ""
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

// recordJSON renders a server record, adding a top-level "warnings" list
// when there are warnings.
func recordJSON(srv *gitops.Server, warnings []string) ([]byte, error) {
	b, err := srv.MarshalJSON()
	if err != nil {
		return nil, err
	}
	return withWarnings(b, warnings)
}

// withWarnings adds "warnings" to the JSON object obj and a final newline.
func withWarnings(obj []byte, warnings []string) ([]byte, error) {
	if len(warnings) == 0 {
		return append(obj, '\n'), nil
	}
	wb, err := json.Marshal(warnings)
	if err != nil {
		return nil, err
	}
	if len(obj) < 2 || obj[len(obj)-1] != '}' {
		return nil, errors.New("httpapi: withWarnings needs a JSON object")
	}
	out := make([]byte, 0, len(obj)+len(wb)+16)
	out = append(out, obj[:len(obj)-1]...)
	if len(obj) > 2 {
		out = append(out, ',')
	}
	out = append(out, `"warnings":`...)
	out = append(out, wb...)
	return append(out, '}', '\n'), nil
}

// streamArray writes a JSON array of n items, marshalling them one at a
// time into a pooled buffered writer, so a large list is never held twice
// in memory. total, when >= 0, is sent as X-Total-Count.
func (s *Server) streamArray(w http.ResponseWriter, r *http.Request, n, total int, item func(i int) ([]byte, error)) {
	h := w.Header()
	h["Content-Type"] = jsonContentType
	h["X-Content-Type-Options"] = noSniff
	if total >= 0 {
		h["X-Total-Count"] = []string{strconv.Itoa(total)}
	}
	if n == 0 {
		h["Content-Length"] = []string{"3"}
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(emptyArray)
		return
	}
	// Render the first item before the headers go out, so that an item
	// that cannot be rendered still gives a clean error answer.
	first, err := item(0)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusOK)
	bw := s.bufPool.Get().(*bufio.Writer)
	bw.Reset(w)
	defer func() {
		bw.Reset(nil)
		s.bufPool.Put(bw)
	}()
	_ = bw.WriteByte('[')
	_, _ = bw.Write(first)
	for i := 1; i < n; i++ {
		b, err := item(i)
		if err != nil {
			s.log.LogAttrs(r.Context(), slog.LevelError, "cannot render list item; answer cut short",
				slog.String("request_id", requestID(w)), slog.String("error", err.Error()))
			panic(http.ErrAbortHandler) // the client sees a broken answer, not a short list
		}
		_ = bw.WriteByte(',')
		if _, err := bw.Write(b); err != nil {
			return // the client went away
		}
	}
	_, _ = bw.WriteString("]\n")
	_ = bw.Flush()
}

func mustMarshal(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return append(b, '\n')
}
