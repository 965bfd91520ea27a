package storetest

import gitops "github.com/gitops-status/gitops-status"

// ColumnUpdates is a sequence of updates of k that between them change
// every field an update can change, alone and together, the way pipelines,
// cron checks and the legacy API do: a creation, a new commit, drift, the
// same drift again, staleness thresholds set and cleared, labels added and
// removed, a failed legacy report. A store that writes only the columns an
// update changed checks its columns against its whole record after each.
func ColumnUpdates(k gitops.Key) []gitops.Update {
	never, hour := "0s", "1h"
	deploy := func(sha string, labels map[string]string, staleAfter string) gitops.Update {
		return &gitops.PipelineUpdate{ServerGroup: k.ServerGroup, Host: k.Host, ProjectName: "infra", RepoName: "web",
			ServerType: "nginx", Environment: "prod", Status: gitops.StatusSynced, ChangedFiles: []string{"a.conf", "b.conf"},
			ValidationStatus: gitops.ValidationPassed, ValidationMessage: "ok", CommitSHA: sha, Branch: "main",
			UpdatedBy: "ci", Labels: labels, StaleAfter: staleAfter}
	}
	return []gitops.Update{
		deploy("aaa", map[string]string{"dc": "1"}, ""), // created
		deploy("bbb", map[string]string{"dc": "1"}, ""), // commit and times only
		&gitops.CronUpdate{ServerGroup: k.ServerGroup, Host: k.Host, Status: gitops.StatusOutOfSync, ChangedFiles: []string{"a.conf"}},
		&gitops.CronUpdate{ServerGroup: k.ServerGroup, Host: k.Host, Status: gitops.StatusOutOfSync, ChangedFiles: []string{"a.conf"}},
		&gitops.CronUpdate{ServerGroup: k.ServerGroup, Host: k.Host, Status: gitops.StatusSynced, StaleAfter: &never},
		deploy("ccc", map[string]string{"dc": "2", "rack": "r1"}, "30m"),
		&gitops.CronUpdate{ServerGroup: k.ServerGroup, Host: k.Host, Status: gitops.StatusSynced, Environment: "staging", StaleAfter: &hour},
		&gitops.PipelineUpdate{Source: gitops.SourceLegacy, ServerGroup: k.ServerGroup, Host: k.Host, Status: gitops.StatusFailed,
			CommitSHA: "ddd", ValidationStatus: gitops.ValidationFailed, ValidationMessage: "syntax error"},
		deploy("eee", nil, ""),
	}
}
