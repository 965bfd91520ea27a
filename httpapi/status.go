package httpapi

import (
	"context"
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
// (415, 413, 400, 403 for a server_group outside the token's) reaches no
// store.
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
	if err := authorizeWrite(r, u.Key().ServerGroup, u); err != nil {
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
	s.writeRecord(w, &out.Server, warnings)
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
	p, err := s.list(r.Context(), f)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writePage(w, r, p)
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
	var p page
	if !excluded {
		if p, err = s.list(r.Context(), f); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	if p.total == 0 {
		exists := false
		if excluded || narrows(f) {
			// One server is enough to know; total counts them all.
			q, err := s.list(r.Context(), gitops.Filter{ServerGroup: f.ServerGroup, Limit: 1})
			if err != nil {
				s.writeError(w, r, err)
				return
			}
			exists = q.total > 0
		}
		if !exists {
			s.writeError(w, r, groupNotFound(g))
			return
		}
	}
	s.writePage(w, r, p)
}

// page is the answer of a list read: the records encoded when the store
// keeps them so, decoded otherwise, and how many match before paging.
type page struct {
	encoded []gitops.EncodedServer
	servers []gitops.Server
	total   int
}

// list reads the servers f selects, encoded when the store can.
func (s *Server) list(ctx context.Context, f gitops.Filter) (page, error) {
	var p page
	var err error
	if s.encoded != nil {
		p.encoded, p.total, err = s.encoded.ListEncoded(ctx, f)
	} else {
		p.servers, p.total, err = s.store.List(ctx, f)
	}
	return p, err
}

// writePage answers a list read with a JSON array and X-Total-Count. Either
// way each record is appended as (*gitops.Server).AppendJSON writes it, so
// the bytes are the same.
func (s *Server) writePage(w http.ResponseWriter, r *http.Request, p page) {
	if s.encoded != nil {
		s.writeArray(w, r, len(p.encoded), p.total, func(dst []byte, i int) ([]byte, error) {
			return p.encoded[i].AppendJSON(dst), nil
		})
		return
	}
	s.writeArray(w, r, len(p.servers), p.total, func(dst []byte, i int) ([]byte, error) {
		return p.servers[i].AppendJSON(dst), nil
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
	if s.encoded != nil {
		e, err := s.encoded.GetEncoded(r.Context(), k)
		if err != nil {
			s.writeGetError(w, r, k, err)
			return
		}
		buf := s.getBuf()
		b := append(e.AppendJSON(buf), '\n')
		writeJSONBytes(w, http.StatusOK, b)
		s.putBuf(b)
		return
	}
	srv, err := s.store.Get(r.Context(), k)
	if err != nil {
		s.writeGetError(w, r, k, err)
		return
	}
	s.writeRecord(w, &srv, nil)
}

// writeGetError answers a failed read of server k: its own 404 when the
// store does not know it.
func (s *Server) writeGetError(w http.ResponseWriter, r *http.Request, k gitops.Key, err error) {
	if gitops.ErrorCode(err) == gitops.ENOTFOUND {
		err = notFound(k)
	}
	s.writeError(w, r, err)
}

// handleDelete answers DELETE /status/{server_group}/{host}: 204 with no
// body, 404 when the server does not exist. A token limited to some
// groups deletes only in those.
func (s *Server) handleDelete(w http.ResponseWriter, r *http.Request) {
	k, err := pathKey(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := authorizeWrite(r, k.ServerGroup, nil); err != nil {
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
