package gitops

import "strings"

// V1Status is the v1 document GET /api/status answers with.
type V1Status struct {
	Repo          string   `json:"repo"`
	Server        string   `json:"server"`
	SyncStatus    string   `json:"sync_status"`
	DriftCount    int      `json:"drift_count"`
	DeployedFiles []string `json:"deployed_files"`
	DriftedFiles  []string `json:"drifted_files"`
	LastCheck     Time     `json:"last_check"`
}

// V1View converts a record to the v1 document (SPEC §4, v2 → v1).
func V1View(s *Server) V1Status {
	v := V1Status{
		Repo:          s.RepoName,
		Server:        s.Host,
		SyncStatus:    strings.ToUpper(string(s.Status)),
		DeployedFiles: []string{},
		DriftedFiles:  []string{},
		LastCheck:     Time{s.LastReport()},
	}
	files := nonNilList(s.ChangedFiles)
	if s.Status == StatusOutOfSync {
		v.DriftCount = len(files)
		v.DriftedFiles = files
	} else {
		v.DeployedFiles = files
	}
	return v
}

// PickLegacyHost chooses the server GET /api/status?server=HOST shows among
// the servers named host: the one in the legacy group if there is one; with
// no legacy group configured, the one the legacy API wrote most recently;
// else the most recently updated. ok is false when candidates is empty.
func PickLegacyHost(candidates []Server, legacyGroup string) (s Server, ok bool) {
	var legacy Server
	for _, c := range candidates {
		if legacyGroup != "" && c.ServerGroup == legacyGroup {
			return c, true
		}
		if c.LegacyWrittenAt.After(legacy.LegacyWrittenAt) {
			legacy = c
		}
	}
	if legacyGroup == "" && !legacy.LegacyWrittenAt.IsZero() {
		return legacy, true
	}
	for i, c := range candidates {
		if i == 0 || c.Timestamp.After(s.Timestamp) {
			s = c
		}
	}
	return s, len(candidates) > 0
}
