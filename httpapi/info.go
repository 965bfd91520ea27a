package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	gitops "github.com/gitops-status/gitops-status"
)

// index is the answer of GET /.
type index struct {
	Name        string   `json:"name"`
	Version     string   `json:"version"`
	APIVersion  string   `json:"api_version"`
	Endpoints   []string `json:"endpoints"`
	AuthEnabled bool     `json:"auth_enabled"`
}

// handleIndex answers GET / with the service info, rendered once by New.
func (s *Server) handleIndex(w http.ResponseWriter, r *http.Request) {
	writeJSONBytes(w, http.StatusOK, s.indexBody)
}

var healthBody = []byte(`{"status":"ok"}` + "\n")

// handleHealth answers GET /health: the process is alive. It touches
// nothing, so a slow database never fails liveness.
func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	writeJSONBytes(w, http.StatusOK, healthBody)
}

// readyTimeout bounds the store ping of GET /ready.
const readyTimeout = 2 * time.Second

type readiness struct {
	Status string `json:"status"`
	Error  string `json:"error,omitempty"`
}

// handleReady answers GET /ready: 200 when the store answers, 503 with the
// reason when it does not.
func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
	defer cancel()
	if err := s.store.Ping(ctx); err != nil {
		reason := gitops.ErrorMessage(err)
		if gitops.ErrorCode(err) == gitops.EINTERNAL {
			reason = "the store does not answer; the server log has the details under request id " + requestID(w)
		}
		s.log.LogAttrs(r.Context(), slog.LevelError, "store not ready",
			slog.String("request_id", requestID(w)), slog.String("error", err.Error()))
		s.writeJSON(w, r, http.StatusServiceUnavailable, readiness{Status: "unavailable", Error: reason})
		return
	}
	s.writeJSON(w, r, http.StatusOK, readiness{Status: "ready"})
}
