package gitops

import (
	"fmt"
	"slices"
	"time"
)

// Update is a pipeline, legacy or cron update. Stores apply it inside one
// transaction that holds the server's row: they read the current record,
// call Apply, and write the outcome and its event before releasing the row.
type Update interface {
	Key() Key
	// Apply computes the update's outcome against cur (nil when the server
	// does not exist) at the server's clock now. It does not modify cur.
	Apply(cur *Server, now time.Time) Outcome
}

// Outcome is what an update did to one server.
type Outcome struct {
	// Server is the record after the update; unchanged when !Applied.
	Server Server
	// Applied is false when an out-of-order rule held the update back.
	Applied bool
	// Created is true when the update created the server.
	Created bool
	// Event is the event to write with the update, or nil.
	Event *Event
	// Warnings explain why an update was not applied.
	Warnings []string
}

// PipelineUpdate is a deployment report (POST /status/pipeline) or a legacy
// v1 update (POST /api/status), which is of the pipeline kind. A pipeline
// report is the whole truth of the fields it owns: what it omits is reset.
type PipelineUpdate struct {
	Source            Source // SourceLegacy, else a pipeline update ("" included)
	ServerGroup       string
	Host              string
	ProjectName       string
	RepoName          string
	ServerType        string
	Environment       string
	Status            Status
	ChangedFiles      []string
	ValidationStatus  ValidationStatus
	ValidationMessage string
	CommitSHA         string
	Branch            string
	UpdatedBy         string
	Labels            map[string]string
	StaleAfter        string
	// ReportedAt is when the pipeline observed the state; zero = unknown.
	ReportedAt time.Time
	// LastCheck, for legacy updates, is the v1 last_check: it becomes
	// last_pipeline_run instead of the server's clock.
	LastCheck time.Time
}

// Key returns the server the update is about.
func (u *PipelineUpdate) Key() Key { return Key{u.ServerGroup, u.Host} }

// CronUpdate is a drift check report (POST /status/cron). It never erases
// what a pipeline wrote.
type CronUpdate struct {
	ServerGroup  string
	Host         string
	Status       Status
	ChangedFiles []string
	// Identity fields are used only when the update creates the record.
	ProjectName string
	RepoName    string
	ServerType  string
	Environment string
	// StaleAfter, when non-nil, replaces the server's own threshold.
	StaleAfter *string
	ReportedAt time.Time
}

// Key returns the server the update is about.
func (u *CronUpdate) Key() Key { return Key{u.ServerGroup, u.Host} }

// Now truncates a clock reading to what every store keeps: microseconds, UTC.
func Now(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// truncate is Now for times that may be unset.
func truncate(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return Now(t)
}

// Apply implements Update.
func (u *PipelineUpdate) Apply(cur *Server, now time.Time) Outcome {
	now = Now(now)
	reportedAt := truncate(u.ReportedAt)
	if cur != nil && !reportedAt.IsZero() && !cur.PipelineReportedAt.IsZero() && reportedAt.Before(cur.PipelineReportedAt) {
		return notApplied(cur, fmt.Sprintf("update not applied: its reported_at %s is earlier than that of the last applied pipeline update (%s)",
			FormatTime(reportedAt), FormatTime(cur.PipelineReportedAt)))
	}
	var next Server
	if cur != nil {
		next = cur.Clone()
	}
	next.ServerGroup, next.Host = u.ServerGroup, u.Host
	next.ProjectName = u.ProjectName
	next.RepoName = u.RepoName
	next.ServerType = u.ServerType
	next.Environment = u.Environment
	next.Status = u.Status
	next.ChangedFiles = nonNilList(u.ChangedFiles)
	next.ValidationStatus = u.ValidationStatus
	if next.ValidationStatus == "" {
		next.ValidationStatus = ValidationUnknown
	}
	next.ValidationMessage = u.ValidationMessage
	next.CommitSHA = u.CommitSHA
	next.Branch = u.Branch
	next.UpdatedBy = u.UpdatedBy
	next.Labels = nonNilMap(u.Labels)
	next.StaleAfter = u.StaleAfter
	next.PipelineReportedAt = reportedAt
	next.LastPipelineRun = now
	next.LastSource = SourcePipeline
	if u.Source == SourceLegacy {
		next.LastSource = SourceLegacy
		next.LegacyWrittenAt = now
		next.Imported = false
		if !u.LastCheck.IsZero() {
			next.LastPipelineRun = truncate(u.LastCheck)
		}
	}
	next.PipelineStatus = u.Status
	src := u.Source
	if src != SourceLegacy {
		// An update built by hand, without Source, is a pipeline update: its
		// event must not carry an empty source.
		src = SourcePipeline
	}
	return finish(cur, next, now, src)
}

// Apply implements Update.
func (u *CronUpdate) Apply(cur *Server, now time.Time) Outcome {
	now = Now(now)
	reportedAt := truncate(u.ReportedAt)
	if cur != nil && !reportedAt.IsZero() {
		if !cur.LastPipelineRun.IsZero() && reportedAt.Before(cur.LastPipelineRun) {
			return notApplied(cur, fmt.Sprintf("update not applied: its reported_at %s is earlier than the last pipeline run (%s), so the check may have seen the state before that deployment",
				FormatTime(reportedAt), FormatTime(cur.LastPipelineRun)))
		}
		if !cur.CronReportedAt.IsZero() && reportedAt.Before(cur.CronReportedAt) {
			return notApplied(cur, fmt.Sprintf("update not applied: its reported_at %s is earlier than that of the last applied cron update (%s)",
				FormatTime(reportedAt), FormatTime(cur.CronReportedAt)))
		}
	}
	var next Server
	if cur != nil {
		next = cur.Clone()
	} else {
		next = Server{
			ServerGroup:      u.ServerGroup,
			Host:             u.Host,
			ProjectName:      u.ProjectName,
			RepoName:         u.RepoName,
			ServerType:       u.ServerType,
			Environment:      u.Environment,
			ValidationStatus: ValidationUnknown,
			Labels:           map[string]string{},
		}
	}
	next.Status = u.Status
	next.ChangedFiles = nonNilList(u.ChangedFiles)
	next.LastCronCheck = now
	next.CronReportedAt = reportedAt
	next.DriftStatus = u.Status
	next.LastSource = SourceCron
	if u.StaleAfter != nil {
		next.StaleAfter = *u.StaleAfter
	}
	return finish(cur, next, now, SourceCron)
}

func notApplied(cur *Server, why string) Outcome {
	return Outcome{Server: cur.Clone(), Warnings: []string{why}}
}

// finish sets the fields every applied update derives and decides the event.
func finish(cur *Server, next Server, now time.Time, src Source) Outcome {
	next.Timestamp = now
	out := Outcome{Applied: true, Created: cur == nil}
	if cur == nil || cur.Status != next.Status {
		next.StatusSince = now
	}
	if changes := eventChanges(cur, &next); len(changes) > 0 {
		ev := &Event{
			Time:             Time{now},
			ServerGroup:      next.ServerGroup,
			Host:             next.Host,
			Source:           src,
			Status:           next.Status,
			CommitSHA:        next.CommitSHA,
			ValidationStatus: next.ValidationStatus,
			ChangedFiles:     append([]string{}, next.ChangedFiles...),
			Changes:          changes,
		}
		if src != SourceCron {
			ev.UpdatedBy = next.UpdatedBy
		}
		if cur != nil {
			ev.PreviousStatus = cur.Status
		}
		out.Event = ev
	}
	out.Server = next
	return out
}

// eventChanges lists what makes next, the record after an update of cur
// (nil when the update creates the server), an event, in the order of
// SPEC §3; none means the update writes no event. A new server's event is
// only "created": there is nothing it changed from.
func eventChanges(cur, next *Server) []Change {
	if cur == nil {
		return []Change{ChangeCreated}
	}
	var out []Change
	if cur.Status != next.Status {
		out = append(out, ChangeStatus)
	}
	if cur.CommitSHA != next.CommitSHA {
		out = append(out, ChangeCommitSHA)
	}
	if cur.ValidationStatus != next.ValidationStatus {
		out = append(out, ChangeValidationStatus)
	}
	if !sameFileSet(cur.ChangedFiles, next.ChangedFiles) {
		out = append(out, ChangeChangedFiles)
	}
	return out
}

func sameFileSet(a, b []string) bool {
	as, bs := slices.Clone(a), slices.Clone(b)
	slices.Sort(as)
	slices.Sort(bs)
	return slices.Equal(slices.Compact(as), slices.Compact(bs))
}

func nonNilList(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}

func nonNilMap(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

// Change names what made an event (Event.Changes).
type Change string

// The changes an event lists, in the order it lists them (SPEC §3).
const (
	ChangeCreated          Change = "created"
	ChangeStatus           Change = "status"
	ChangeCommitSHA        Change = "commit_sha"
	ChangeValidationStatus Change = "validation_status"
	ChangeChangedFiles     Change = "changed_files"
)

// Changes lists every Change in the order events list them.
var Changes = []Change{ChangeCreated, ChangeStatus, ChangeCommitSHA, ChangeValidationStatus, ChangeChangedFiles}

// DeriveChanges is the Changes of an event stored without them (by a
// binary older than the changes list, during a rolling upgrade): what the
// event alone tells. An empty previous status marks a creation, a
// different one a status change; what else changed would need the
// server's previous event, so it is left out.
func DeriveChanges(e *Event) []Change {
	switch {
	case e.PreviousStatus == "":
		return []Change{ChangeCreated}
	case e.PreviousStatus != e.Status:
		return []Change{ChangeStatus}
	}
	return []Change{}
}

// Event is one change of a server's state, written in the same transaction
// as the update that made it.
type Event struct {
	ID               int64            `json:"id"`
	Time             Time             `json:"time"`
	ServerGroup      string           `json:"server_group"`
	Host             string           `json:"host"`
	Source           Source           `json:"source"`
	Status           Status           `json:"status"`
	PreviousStatus   Status           `json:"previous_status"`
	CommitSHA        string           `json:"commit_sha"`
	ValidationStatus ValidationStatus `json:"validation_status"`
	ChangedFiles     []string         `json:"changed_files"`
	UpdatedBy        string           `json:"updated_by"`
	// RepoName and Branch name the head of a desired event (source git),
	// whose server_group and host are empty; other events leave them out.
	RepoName string `json:"repo_name,omitempty"`
	Branch   string `json:"branch,omitempty"`
	// Changes lists what made the event, in the order of Changes: a new
	// server's event is ["created"], any other names the fields whose
	// value changed. Never nil in a stored event.
	Changes []Change `json:"changes"`
}
