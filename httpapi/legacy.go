package httpapi

import (
	"encoding/json"
	"net/http"

	gitops "github.com/gitops-status/gitops-status"
)

// handleLegacyGet answers GET /api/status with the v1 view of one server:
// with ?server=HOST that host (in the legacy group if it is there, else the
// most recently updated server of that name); otherwise the server most
// recently written through the legacy API, else the newest imported one.
func (s *Server) handleLegacyGet(w http.ResponseWriter, r *http.Request) {
	q, err := parseQuery(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var srv gitops.Server
	if host := q.first("server"); host != "" {
		if err := gitops.ValidateIdentifier("server", host); err != nil {
			s.writeError(w, r, err)
			return
		}
		candidates, _, err := s.store.List(r.Context(), gitops.Filter{Host: []string{host}})
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		var ok bool
		if srv, ok = gitops.PickLegacyHost(candidates, s.legacyGroup); !ok {
			s.writeError(w, r, gitops.Errorf(gitops.ENOTFOUND, "server %s not found", host))
			return
		}
	} else {
		if srv, err = s.store.LegacyLatest(r.Context()); err != nil {
			if gitops.ErrorCode(err) == gitops.ENOTFOUND {
				err = gitops.Errorf(gitops.ENOTFOUND, "no server status has been reported yet")
			}
			s.writeError(w, r, err)
			return
		}
	}
	s.writeV1(w, r, &srv, nil)
}

// handleLegacyPost takes a v1 update: POST /api/status. It answers 200 with
// the v1 view of the stored server.
func (s *Server) handleLegacyPost(w http.ResponseWriter, r *http.Request) {
	out, warnings, err := s.apply(w, r, func(body []byte, p gitops.ParseOptions) (gitops.Update, []string, error) {
		u, warnings, err := gitops.ParseLegacyUpdate(body, p)
		return u, warnings, err
	})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeV1(w, r, &out.Server, warnings)
}

func (s *Server) writeV1(w http.ResponseWriter, r *http.Request, srv *gitops.Server, warnings []string) {
	b, err := json.Marshal(gitops.V1View(srv))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSONBytes(w, http.StatusOK, append(appendWarnings(b, warnings), '\n'))
}
