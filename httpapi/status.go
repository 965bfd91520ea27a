package httpapi

import (
	"net/http"
	"slices"

	gitops "github.com/gitops-status/gitops-status"
)

// handlePipeline takes a deployment report: POST /status/pipeline.
func (s *Server) handlePipeline(w http.ResponseWriter, r *http.Request) {
	s.update(w, r, func(body []byte, p gitops.ParseOptions) (gitops.Update, []string, error) {
		u, warnings, err := gitops.ParsePipelineUpdate(body, p)
		return u, warnings, err
	})
}

// handleCron takes a drift check report: POST /status/cron.
func (s *Server) handleCron(w http.ResponseWriter, r *http.Request) {
	s.update(w, r, func(body []byte, p gitops.ParseOptions) (gitops.Update, []string, error) {
		u, warnings, err := gitops.ParseCronUpdate(body, p)
		return u, warnings, err
	})
}

// parseFunc reads an update from a request body.
type parseFunc func(body []byte, p gitops.ParseOptions) (gitops.Update, []string, error)

// apply reads, parses and applies an update. A request refused on the way
// (415, 413, 400) reaches no store.
func (s *Server) apply(w http.ResponseWriter, r *http.Request, parse parseFunc) (gitops.Outcome, []string, error) {
	buf, err := s.readBody(w, r)
	if err != nil {
		return gitops.Outcome{}, nil, err
	}
	u, warnings, err := parse(buf.Bytes(), s.parseOptions())
	s.putBody(buf)
	if err != nil {
		return gitops.Outcome{}, nil, err
	}
	out, err := s.store.Apply(r.Context(), u)
	if err != nil {
		return gitops.Outcome{}, nil, err
	}
	if len(out.Warnings) > 0 {
		warnings = append(warnings, out.Warnings...)
	}
	return out, warnings, nil
}

// update answers a pipeline or cron update with the stored record: 200,
// also when an out-of-order rule held the update back (a warning says so).
func (s *Server) update(w http.ResponseWriter, r *http.Request, parse parseFunc) {
	out, warnings, err := s.apply(w, r, parse)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	b, err := recordJSON(&out.Server, warnings)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSONBytes(w, http.StatusOK, b)
}

func (s *Server) parseOptions() gitops.ParseOptions {
	return gitops.ParseOptions{Now: s.now(), MaxClockSkew: s.maxClockSkew, LegacyGroup: s.legacyGroup}
}

// handleList answers GET /status: every matching server as a flat array.
func (s *Server) handleList(w http.ResponseWriter, r *http.Request) {
	q, err := parseQuery(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	f, err := q.filter()
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	servers, total, err := s.store.List(r.Context(), f)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeServers(w, r, servers, total)
}

// handleGroup answers GET /status/{server_group}: 404 when the group has no
// servers at all, [] when it has some but the filters match none.
func (s *Server) handleGroup(w http.ResponseWriter, r *http.Request) {
	g, err := pathIdentifier(r, "server_group")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	q, err := parseQuery(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	f, err := q.filter()
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	// A server_group parameter can only narrow the path's group further.
	excluded := len(f.ServerGroup) > 0 && !slices.Contains(f.ServerGroup, g)
	f.ServerGroup = []string{g}
	var servers []gitops.Server
	total := 0
	if !excluded {
		if servers, total, err = s.store.List(r.Context(), f); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	if total == 0 {
		exists := false
		if excluded || narrows(f) {
			_, n, err := s.store.List(r.Context(), gitops.Filter{ServerGroup: f.ServerGroup, Limit: 1})
			if err != nil {
				s.writeError(w, r, err)
				return
			}
			exists = n > 0
		}
		if !exists {
			s.writeError(w, r, groupNotFound(g))
			return
		}
	}
	s.writeServers(w, r, servers, total)
}

// writeServers streams servers as a JSON array with X-Total-Count.
func (s *Server) writeServers(w http.ResponseWriter, r *http.Request, servers []gitops.Server, total int) {
	s.streamArray(w, r, len(servers), total, func(i int) ([]byte, error) {
		return servers[i].MarshalJSON()
	})
}

func pathKey(r *http.Request) (gitops.Key, error) {
	g, err := pathIdentifier(r, "server_group")
	if err != nil {
		return gitops.Key{}, err
	}
	h, err := pathIdentifier(r, "host")
	if err != nil {
		return gitops.Key{}, err
	}
	return gitops.Key{ServerGroup: g, Host: h}, nil
}

// handleGet answers GET /status/{server_group}/{host}.
func (s *Server) handleGet(w http.ResponseWriter, r *http.Request) {
	k, err := pathKey(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	srv, err := s.store.Get(r.Context(), k)
	if err != nil {
		if gitops.ErrorCode(err) == gitops.ENOTFOUND {
			err = notFound(k)
		}
		s.writeError(w, r, err)
		return
	}
	b, err := recordJSON(&srv, nil)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSONBytes(w, http.StatusOK, b)
}

// handleDelete answers DELETE /status/{server_group}/{host}: 204 with no
// body, 404 when the server does not exist.
func (s *Server) handleDelete(w http.ResponseWriter, r *http.Request) {
	k, err := pathKey(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.store.Delete(r.Context(), k); err != nil {
		if gitops.ErrorCode(err) == gitops.ENOTFOUND {
			err = notFound(k)
		}
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
