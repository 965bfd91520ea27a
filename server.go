package gitops

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Status is the sync state of a server.
type Status string

const (
	StatusSynced    Status = "synced"
	StatusOutOfSync Status = "out_of_sync"
	StatusFailed    Status = "failed"
	StatusUnknown   Status = "unknown"
)

// Statuses lists the accepted Status values, in the order errors list them.
var Statuses = []Status{StatusSynced, StatusOutOfSync, StatusFailed, StatusUnknown}

// ValidationStatus is the result of a pipeline's own validation step.
type ValidationStatus string

const (
	ValidationPassed  ValidationStatus = "passed"
	ValidationFailed  ValidationStatus = "failed"
	ValidationSkipped ValidationStatus = "skipped"
	ValidationUnknown ValidationStatus = "unknown"
)

// ValidationStatuses lists the accepted ValidationStatus values.
var ValidationStatuses = []ValidationStatus{ValidationPassed, ValidationFailed, ValidationSkipped, ValidationUnknown}

// Source names the kind of update that last wrote a server, or wrote an event.
type Source string

const (
	SourcePipeline Source = "pipeline"
	SourceCron     Source = "cron"
	SourceLegacy   Source = "legacy"
	// SourceSweep marks events written by the staleness sweep.
	SourceSweep Source = "sweep"
)

// ParseStatus accepts a status in any letter case and returns it lower-case.
// The error is an EINVALID *Error naming field and the allowed values.
func ParseStatus(field, s string) (Status, error) {
	st := Status(asciiLower(s))
	for _, ok := range Statuses {
		if st == ok {
			return st, nil
		}
	}
	return "", FieldErrorf(field, "%s %q is not one of %s", field, s, joinQuoted(Statuses))
}

// ParseValidationStatus is ParseStatus for validation statuses.
func ParseValidationStatus(field, s string) (ValidationStatus, error) {
	v := ValidationStatus(asciiLower(s))
	for _, ok := range ValidationStatuses {
		if v == ok {
			return v, nil
		}
	}
	return "", FieldErrorf(field, "%s %q is not one of %s", field, s, joinQuoted(ValidationStatuses))
}

// asciiLower lower-cases ASCII letters only: "any letter case" means the
// letters of the allowed values, so Unicode look-alikes that strings.ToLower
// folds onto them (the Kelvin sign K, the dotted İ) stay refused.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + ('a' - 'A')
		}
	}
	return string(b)
}

func joinQuoted[T ~string](vs []T) string {
	q := make([]string, len(vs))
	for i, v := range vs {
		q[i] = `"` + string(v) + `"`
	}
	return strings.Join(q, ", ")
}

// MaxIdentifierLen is the longest server_group or host accepted.
const MaxIdentifierLen = 253

// ValidateIdentifier checks a server_group or host: 1–253 characters of
// [A-Za-z0-9._-], starting with a letter or digit. Identifiers are URL path
// segments, so anything else is refused rather than escaped.
func ValidateIdentifier(field, s string) error {
	if s == "" {
		return FieldErrorf(field, "%s is required: 1-%d characters of letters, digits, '.', '_' and '-', starting with a letter or digit", field, MaxIdentifierLen)
	}
	if len(s) > MaxIdentifierLen {
		return FieldErrorf(field, "%s is %d characters long; at most %d are accepted", field, len(s), MaxIdentifierLen)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if i == 0 && !alnum {
			return FieldErrorf(field, "%s %q must start with a letter or digit", field, s)
		}
		if !alnum && c != '.' && c != '_' && c != '-' {
			return FieldErrorf(field, "%s %q contains %q; only letters, digits, '.', '_' and '-' are accepted", field, s, rune(c))
		}
	}
	return nil
}

// Key identifies a server.
type Key struct {
	ServerGroup string
	Host        string
}

func (k Key) String() string { return k.ServerGroup + "/" + k.Host }

// CompareKeys orders keys as lists are: by server_group, then host, in
// byte order.
func CompareKeys(a, b Key) int {
	if c := strings.Compare(a.ServerGroup, b.ServerGroup); c != 0 {
		return c
	}
	return strings.Compare(a.Host, b.Host)
}

// Server is the stored record of one server. Times are UTC; a zero time is
// unset and is written as null.
type Server struct {
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
	LastPipelineRun   time.Time
	LastCronCheck     time.Time
	Timestamp         time.Time
	StatusSince       time.Time
	LastSource        Source
	Labels            map[string]string
	PipelineStatus    Status
	DriftStatus       Status
	// StaleAfter is this server's own staleness threshold as a Go duration
	// string; "" means the global one applies and "0s" means never stale.
	StaleAfter         string
	PipelineReportedAt time.Time
	CronReportedAt     time.Time

	// Stale is computed on read (see IsStale); stores fill it in.
	Stale bool
	// Desired is computed on read from the heads (see Heads.Desired);
	// stores fill it in.
	Desired Desired

	// LegacyWrittenAt is when the legacy API last wrote this server; it picks
	// the server GET /api/status shows. Not part of the JSON record.
	LegacyWrittenAt time.Time
	// Imported is true for records that came from a status.json import and
	// were not written since by the legacy API. Not part of the JSON record.
	Imported bool
}

// Key returns the server's key.
func (s *Server) Key() Key { return Key{s.ServerGroup, s.Host} }

// LastReport is the newest of LastPipelineRun and LastCronCheck.
func (s *Server) LastReport() time.Time {
	if s.LastCronCheck.After(s.LastPipelineRun) {
		return s.LastCronCheck
	}
	return s.LastPipelineRun
}

// StaleThreshold is the threshold that applies to s: its own StaleAfter when
// set, else global. Zero or negative means staleness is off for s.
func (s *Server) StaleThreshold(global time.Duration) time.Duration {
	if s.StaleAfter == "" {
		return global
	}
	d, err := time.ParseDuration(s.StaleAfter)
	if err != nil {
		return global
	}
	return d
}

// IsStale reports whether s is stale at now: its threshold is on and its
// newest report is older than the threshold. A server that never reported
// at all is stale as soon as a threshold applies.
func (s *Server) IsStale(now time.Time, global time.Duration) bool {
	d := s.StaleThreshold(global)
	if d <= 0 {
		return false
	}
	return now.Sub(s.LastReport()) > d
}

// Clone returns a deep copy of s.
func (s *Server) Clone() Server {
	c := *s
	c.ChangedFiles = append([]string(nil), s.ChangedFiles...)
	if s.Labels != nil {
		c.Labels = make(map[string]string, len(s.Labels))
		for k, v := range s.Labels {
			c.Labels[k] = v
		}
	}
	return c
}

// Time is a time written as RFC 3339 in UTC with a Z suffix and read
// leniently (see ParseTime). The zero Time is written as null.
type Time struct{ time.Time }

// MarshalJSON writes t in UTC with a Z suffix, or null when unset.
func (t Time) MarshalJSON() ([]byte, error) {
	if t.IsZero() {
		return []byte("null"), nil
	}
	b := t.UTC().AppendFormat(append(make([]byte, 0, 37), '"'), time.RFC3339Nano)
	return append(b, '"'), nil
}

// UnmarshalJSON reads null, or a time in any format ParseTime accepts.
func (t *Time) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		t.Time = time.Time{}
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("a time must be a string such as \"2026-04-26T10:30:00Z\"")
	}
	pt, err := ParseTime(s)
	if err != nil {
		return err
	}
	t.Time = pt
	return nil
}

// FormatTime writes t as the record does: RFC 3339 in UTC with Z.
func FormatTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

var offsetFreeLayouts = []string{
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04",
}

// ParseTime reads a time as v1/v2.0 files and clients wrote it (Python's
// isoformat): RFC 3339 with any offset, with or without fractional seconds,
// or an offset-free ISO time, which is read as UTC. The result is in UTC.
func ParseTime(s string) (time.Time, error) {
	t, err := parseTime(s)
	if err != nil {
		return time.Time{}, err
	}
	// An offset can move a 4-digit year out of 0001-9999 in UTC; such a time
	// would be written back with a year RFC 3339 cannot hold.
	if y := t.Year(); y < 1 || y > 9999 {
		return time.Time{}, fmt.Errorf("%q is out of range: its year in UTC must be between 0001 and 9999", s)
	}
	return t, nil
}

func parseTime(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	// Python writes "+00:00"-style offsets after a space separator too.
	if t, err := time.Parse("2006-01-02 15:04:05.999999999Z07:00", s); err == nil {
		return t.UTC(), nil
	}
	for _, layout := range offsetFreeLayouts {
		if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not an RFC 3339 time such as \"2026-04-26T10:30:00Z\"", s)
}

// record is the JSON shape of a Server. Field order is the seed's, then the
// fields added beyond it.
type record struct {
	ProjectName        string            `json:"project_name"`
	RepoName           string            `json:"repo_name"`
	ServerGroup        string            `json:"server_group"`
	ServerType         string            `json:"server_type"`
	Environment        string            `json:"environment"`
	Host               string            `json:"host"`
	Status             Status            `json:"status"`
	ChangedFiles       []string          `json:"changed_files"`
	ValidationStatus   ValidationStatus  `json:"validation_status"`
	ValidationMessage  string            `json:"validation_message"`
	CommitSHA          string            `json:"commit_sha"`
	Branch             string            `json:"branch"`
	UpdatedBy          string            `json:"updated_by"`
	LastPipelineRun    Time              `json:"last_pipeline_run"`
	LastCronCheck      Time              `json:"last_cron_check"`
	Timestamp          Time              `json:"timestamp"`
	StatusSince        Time              `json:"status_since"`
	LastSource         Source            `json:"last_source"`
	PipelineStatus     Status            `json:"pipeline_status"`
	DriftStatus        Status            `json:"drift_status"`
	Labels             map[string]string `json:"labels"`
	StaleAfter         string            `json:"stale_after"`
	PipelineReportedAt Time              `json:"pipeline_reported_at"`
	CronReportedAt     Time              `json:"cron_reported_at"`
}

func (s *Server) record() record {
	files := s.ChangedFiles
	if files == nil {
		files = []string{}
	}
	labels := s.Labels
	if labels == nil {
		labels = map[string]string{}
	}
	return record{
		ProjectName:        s.ProjectName,
		RepoName:           s.RepoName,
		ServerGroup:        s.ServerGroup,
		ServerType:         s.ServerType,
		Environment:        s.Environment,
		Host:               s.Host,
		Status:             s.Status,
		ChangedFiles:       files,
		ValidationStatus:   s.ValidationStatus,
		ValidationMessage:  s.ValidationMessage,
		CommitSHA:          s.CommitSHA,
		Branch:             s.Branch,
		UpdatedBy:          s.UpdatedBy,
		LastPipelineRun:    Time{s.LastPipelineRun},
		LastCronCheck:      Time{s.LastCronCheck},
		Timestamp:          Time{s.Timestamp},
		StatusSince:        Time{s.StatusSince},
		LastSource:         s.LastSource,
		PipelineStatus:     s.PipelineStatus,
		DriftStatus:        s.DriftStatus,
		Labels:             labels,
		StaleAfter:         s.StaleAfter,
		PipelineReportedAt: Time{s.PipelineReportedAt},
		CronReportedAt:     Time{s.CronReportedAt},
	}
}

// MarshalJSON writes the record as every record response carries it,
// including the computed stale and changed_files_count (see AppendJSON).
func (s Server) MarshalJSON() ([]byte, error) {
	return s.AppendJSON(make([]byte, 0, 1024)), nil
}

// ExportRecord returns the record as the v2 document stores it: every
// stored field, without the computed ones.
func (s *Server) ExportRecord() any { return s.record() }
