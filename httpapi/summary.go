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

func summarize(v gitops.Samples) summary {
	sum := summary{
		Total:         v.Len(),
		ByStatus:      statusCounts(),
		ByGroup:       map[string]map[gitops.Status]int{},
		ByEnvironment: map[string]map[gitops.Status]int{},
	}
	var srv gitops.ServerSample
	for i := range v.Len() {
		v.At(i, &srv)
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
// by group and status, and by environment and status. It reads the
// store's in-memory view, not decoded records (gitops.ReadSamples).
func (s *Server) handleSummary(w http.ResponseWriter, r *http.Request) {
	var sum summary
	if err := gitops.ReadSamples(r.Context(), s.store, func(v gitops.Samples) error {
		sum = summarize(v)
		return nil
	}); err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeJSON(w, r, http.StatusOK, sum)
}
