package httpapi

import (
	"encoding/json"
	"net/http"

	gitops "github.com/gitops-status/gitops-status"
)

// handleHistory answers GET /status/{server_group}/{host}/history: the
// server's events, newest first; 404 when the server does not exist.
func (s *Server) handleHistory(w http.ResponseWriter, r *http.Request) {
	k, err := pathKey(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	q, err := parseQuery(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	f := gitops.EventFilter{ServerGroup: []string{k.ServerGroup}, Host: k.Host}
	if f.Limit, err = q.integer("limit", 1, maxEventLimit, defaultHistoryLimit); err != nil {
		s.writeError(w, r, err)
		return
	}
	if f.Since, err = q.time("since"); err != nil {
		s.writeError(w, r, err)
		return
	}
	if f.Until, err = q.time("until"); err != nil {
		s.writeError(w, r, err)
		return
	}
	if _, err := s.store.Get(r.Context(), k); err != nil {
		if gitops.ErrorCode(err) == gitops.ENOTFOUND {
			err = notFound(k)
		}
		s.writeError(w, r, err)
		return
	}
	s.writeEvents(w, r, f)
}

// handleEvents answers GET /events: every server's events, newest first,
// for Grafana annotations.
func (s *Server) handleEvents(w http.ResponseWriter, r *http.Request) {
	q, err := parseQuery(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var f gitops.EventFilter
	if f.ServerGroup, err = q.identifiers("server_group"); err != nil {
		s.writeError(w, r, err)
		return
	}
	if f.Status, err = q.statuses("status"); err != nil {
		s.writeError(w, r, err)
		return
	}
	if f.Limit, err = q.integer("limit", 1, maxEventLimit, defaultEventsLimit); err != nil {
		s.writeError(w, r, err)
		return
	}
	if f.Since, err = q.time("since"); err != nil {
		s.writeError(w, r, err)
		return
	}
	if f.Until, err = q.time("until"); err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeEvents(w, r, f)
}

// writeEvents streams the events f selects as a JSON array, never null.
func (s *Server) writeEvents(w http.ResponseWriter, r *http.Request, f gitops.EventFilter) {
	events, err := s.store.Events(r.Context(), f)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeArray(w, r, len(events), -1, func(dst []byte, i int) ([]byte, error) {
		ev := &events[i]
		if ev.ChangedFiles == nil {
			ev.ChangedFiles = []string{}
		}
		b, err := json.Marshal(ev)
		return append(dst, b...), err
	})
}
