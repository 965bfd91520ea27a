package httpapi

import (
	"context"
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
	if err := s.exists(r.Context(), k); err != nil {
		s.writeGetError(w, r, k, err)
		return
	}
	s.writeEvents(w, r, f)
}

// exists returns nil when server k exists, else Get's error (ENOTFOUND
// when it does not). The encoded read skips decoding a record nobody reads.
func (s *Server) exists(ctx context.Context, k gitops.Key) error {
	var err error
	if s.encoded != nil {
		_, err = s.encoded.GetEncoded(ctx, k)
	} else {
		_, err = s.store.Get(ctx, k)
	}
	return err
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
		if ev.Changes == nil {
			ev.Changes = []gitops.Change{}
		}
		b, err := json.Marshal(ev)
		return append(dst, b...), err
	})
}
