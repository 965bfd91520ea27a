package httpapi

import (
	"net/http"

	gitops "github.com/gitops-status/gitops-status"
)

// summary is the answer of GET /summary. Every status of gitops.Statuses is
// a key of ByStatus and of each inner map, 0 when no server has it, so
// dashboards need no "missing means zero" logic.
type summary struct {
	Total         int                              `json:"total"`
	Stale         int                              `json:"stale"`
	Behind        int                              `json:"behind"`
	ByStatus      map[gitops.Status]int            `json:"by_status"`
	ByGroup       map[string]map[gitops.Status]int `json:"by_group"`
	ByEnvironment map[string]map[gitops.Status]int `json:"by_environment"`
}

func statusCounts() map[gitops.Status]int {
	m := make(map[gitops.Status]int, len(gitops.Statuses))
	for _, st := range gitops.Statuses {
		m[st] = 0
	}
	return m
}

func summarize(servers []gitops.Server) summary {
	sum := summary{
		Total:         len(servers),
		ByStatus:      statusCounts(),
		ByGroup:       map[string]map[gitops.Status]int{},
		ByEnvironment: map[string]map[gitops.Status]int{},
	}
	for i := range servers {
		srv := &servers[i]
		if srv.Stale {
			sum.Stale++
		}
		if srv.Desired.Behind {
			sum.Behind++
		}
		sum.ByStatus[srv.Status]++
		g := sum.ByGroup[srv.ServerGroup]
		if g == nil {
			g = statusCounts()
			sum.ByGroup[srv.ServerGroup] = g
		}
		g[srv.Status]++
		e := sum.ByEnvironment[srv.Environment]
		if e == nil {
			e = statusCounts()
			sum.ByEnvironment[srv.Environment] = e
		}
		e[srv.Status]++
	}
	return sum
}

// handleSummary answers GET /summary: counts of every server by status,
// by group and status, and by environment and status.
func (s *Server) handleSummary(w http.ResponseWriter, r *http.Request) {
	servers, _, err := s.store.List(r.Context(), gitops.Filter{})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeJSON(w, r, http.StatusOK, summarize(servers))
}
