package httpapi

import (
	"net/http"

	gitops "github.com/gitops-status/gitops-status"
)

// Heads of branches (SPEC §10). Heads are not server-group scoped: a
// head says which commit every server of a repo and branch should run,
// whatever their groups, so any token with the pipeline scope may set one,
// also one limited to some groups (its groups limit writes of records
// only), and deleting one needs admin.

// headAnswer is the answer of POST /desired: the stored head and, when
// the set was held back or fields were ignored, warnings.
type headAnswer struct {
	gitops.Head
	Warnings []string `json:"-"`
}

func (a headAnswer) MarshalJSON() ([]byte, error) {
	b, err := a.Head.MarshalJSON()
	if err != nil || len(a.Warnings) == 0 {
		return b, err
	}
	b = append(b[:len(b)-1], `,"warnings":[`...)
	for i, w := range a.Warnings {
		if i > 0 {
			b = append(b, ',')
		}
		b = gitops.AppendJSONString(b, w)
	}
	return append(b, "]}"...), nil
}

// handleSetHead answers POST /desired: it sets a head and answers 200 with
// the stored head (the unchanged one, with a warning, when the
// out-of-order rule held it back).
func (s *Server) handleSetHead(w http.ResponseWriter, r *http.Request) {
	buf, err := s.readBody(w, r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	u, warnings, err := gitops.ParseSetHead(buf.Bytes(), s.parseOptions())
	s.putBody(buf)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if p := principalFrom(r.Context()); p != nil && u.UpdatedBy == "" {
		u.UpdatedBy = p.Name
	}
	out, err := s.store.SetHead(r.Context(), *u)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeJSON(w, r, http.StatusOK, headAnswer{out.Head, append(warnings, out.Warnings...)})
}

// handleHeads answers GET /desired: every head, sorted by repo_name then
// branch.
func (s *Server) handleHeads(w http.ResponseWriter, r *http.Request) {
	heads, err := s.store.Heads(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if heads == nil {
		heads = []gitops.Head{}
	}
	s.writeJSON(w, r, http.StatusOK, heads)
}

// handleDeleteHead answers DELETE /desired/{repo_name}/{branch}: 204, 404
// when there is no such head. A '/' inside a name arrives as %2F, which
// the path values hold decoded.
func (s *Server) handleDeleteHead(w http.ResponseWriter, r *http.Request) {
	k := gitops.HeadKey{RepoName: r.PathValue("repo_name"), Branch: r.PathValue("branch")}
	if err := gitops.ValidateHeadName("repo_name", k.RepoName); err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := gitops.ValidateHeadName("branch", k.Branch); err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.store.DeleteHead(r.Context(), k); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
