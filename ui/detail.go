package ui

import (
	"slices"
	"strconv"
	"time"

	gitops "github.com/gitops-status/gitops-status"
)

// field is one line of the server view's list of fields: what a person
// reads (Label), the record's JSON name (Name) to find it in the API, and
// the value; Time is set for times, shown relative with the exact time.
type field struct {
	Label string
	Name  string
	Value string
	Time  *timeCell
	// Empty marks a value that is unset, shown dimmed.
	Empty bool
}

// label is one of a server's labels.
type label struct{ Key, Value string }

// event is one entry of a server's history as the timeline shows it.
type event struct {
	ID             int64
	When           timeCell
	Source         string
	Status         gitops.Status
	StatusWord     string
	Previous       gitops.Status
	PreviousWord   string
	Commit         string
	CommitShort    string
	Validation     gitops.ValidationStatus
	ChangedFiles   []string
	UpdatedBy      string
	Changes        []string
	StatusChanged  bool
	CreatedAServer bool
}

// detail is the model of the server view.
type detail struct {
	Server     row
	Fields     []field
	Labels     []label
	Files      []string
	Events     []event
	EventLimit int
	// MoreHref asks for more events when the history filled the limit.
	MoreHref string
	JSONHref string
	HistHref string
	Refresh  int
}

// buildDetail is the whole server view but the HTML.
func buildDetail(s *gitops.Server, events []gitops.Event, limit int, now time.Time) detail {
	d := detail{
		Server:     newRow(s, now),
		Files:      s.ChangedFiles,
		EventLimit: limit,
		JSONHref:   "/status/" + s.ServerGroup + "/" + s.Host,
	}
	d.HistHref = d.JSONHref + "/history"
	str := func(label, name, v string) {
		d.Fields = append(d.Fields, field{Label: label, Name: name, Value: v, Empty: v == ""})
	}
	tm := func(label, name string, t time.Time) {
		c := agoCell(now, t)
		d.Fields = append(d.Fields, field{Label: label, Name: name, Time: &c, Empty: t.IsZero()})
	}
	status := func(label, name string, st gitops.Status) {
		d.Fields = append(d.Fields, field{Label: label, Name: name, Value: statusWord(st), Empty: st == ""})
	}
	str("Server group", "server_group", s.ServerGroup)
	str("Host", "host", s.Host)
	status("Status", "status", s.Status)
	tm("Status since", "status_since", s.StatusSince)
	str("Stale", "stale", strconv.FormatBool(s.Stale))
	str("Stale after", "stale_after", staleAfterText(s.StaleAfter))
	str("Validation", "validation_status", string(s.ValidationStatus))
	str("Validation message", "validation_message", s.ValidationMessage)
	str("Commit", "commit_sha", s.CommitSHA)
	str("Desired commit", "desired_commit_sha", s.Desired.CommitSHA)
	str("Behind", "behind", strconv.FormatBool(s.Desired.Behind))
	tm("Behind since", "behind_since", s.Desired.BehindSince)
	str("Branch", "branch", s.Branch)
	str("Updated by", "updated_by", s.UpdatedBy)
	str("Project", "project_name", s.ProjectName)
	str("Repository", "repo_name", s.RepoName)
	str("Type", "server_type", s.ServerType)
	str("Environment", "environment", s.Environment)
	status("Last pipeline's status", "pipeline_status", s.PipelineStatus)
	status("Last drift check's status", "drift_status", s.DriftStatus)
	str("Last update from", "last_source", string(s.LastSource))
	tm("Last pipeline run", "last_pipeline_run", s.LastPipelineRun)
	tm("Last cron check", "last_cron_check", s.LastCronCheck)
	tm("Last update", "timestamp", s.Timestamp)
	tm("Pipeline reported at", "pipeline_reported_at", s.PipelineReportedAt)
	tm("Cron reported at", "cron_reported_at", s.CronReportedAt)
	str("Changed files", "changed_files_count", strconv.Itoa(len(s.ChangedFiles)))

	for k, v := range s.Labels {
		d.Labels = append(d.Labels, label{k, v})
	}
	slices.SortFunc(d.Labels, func(a, b label) int {
		if a.Key < b.Key {
			return -1
		}
		if a.Key > b.Key {
			return 1
		}
		return 0
	})
	for i := range events {
		d.Events = append(d.Events, newEvent(&events[i], now))
	}
	if len(events) >= limit && limit < maxEventLimit {
		d.MoreHref = serverPath(s.Key()) + "?limit=" + strconv.Itoa(min(limit*10, maxEventLimit))
	}
	return d
}

// staleAfterText says what an empty or zero stale_after means.
func staleAfterText(s string) string {
	switch s {
	case "":
		return ""
	case "0s", "0":
		return s + " (never stale)"
	}
	return s
}

func newEvent(e *gitops.Event, now time.Time) event {
	ev := event{
		ID:           e.ID,
		When:         agoCell(now, e.Time.Time),
		Source:       string(e.Source),
		Status:       e.Status,
		StatusWord:   statusWord(e.Status),
		Previous:     e.PreviousStatus,
		PreviousWord: statusWord(e.PreviousStatus),
		Commit:       e.CommitSHA,
		CommitShort:  shortCommit(e.CommitSHA),
		Validation:   e.ValidationStatus,
		ChangedFiles: e.ChangedFiles,
		UpdatedBy:    e.UpdatedBy,
		Changes:      eventChanges(e),
	}
	ev.CreatedAServer = e.PreviousStatus == "" || slices.Contains(ev.Changes, "created")
	ev.StatusChanged = !ev.CreatedAServer && e.PreviousStatus != e.Status
	return ev
}

// eventChanges returns what made the event (SPEC §3), as the timeline names it.
func eventChanges(e *gitops.Event) []string {
	if len(e.Changes) == 0 {
		return nil
	}
	out := make([]string, len(e.Changes))
	for i, c := range e.Changes {
		out[i] = string(c)
	}
	return out
}
