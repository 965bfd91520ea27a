package sqlite

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	gitops "github.com/gitops-status/gitops-status"
)

// serverColumns are the servers columns a record is read from, in scan
// order. stale_after_us is derived from stale_after and never read back.
const serverColumns = `server_group, host, project_name, repo_name, server_type, environment,
	status, changed_files, validation_status, validation_message, commit_sha, branch, updated_by,
	last_pipeline_run, last_cron_check, timestamp, status_since, last_source, labels,
	pipeline_status, drift_status, stale_after, pipeline_reported_at, cron_reported_at,
	legacy_written_at, imported`

const selectServer = `SELECT ` + serverColumns + ` FROM servers`

// upsertServer writes a whole record and its head. ON CONFLICT DO UPDATE
// rewrites the row in place (INSERT OR REPLACE would delete and re-insert
// it).
const upsertServer = `INSERT INTO servers (` + serverColumns + `, stale_after_us, head)
	VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)
	ON CONFLICT (server_group, host) DO UPDATE SET
	project_name = excluded.project_name, repo_name = excluded.repo_name,
	server_type = excluded.server_type, environment = excluded.environment,
	status = excluded.status, changed_files = excluded.changed_files,
	validation_status = excluded.validation_status, validation_message = excluded.validation_message,
	commit_sha = excluded.commit_sha, branch = excluded.branch, updated_by = excluded.updated_by,
	last_pipeline_run = excluded.last_pipeline_run, last_cron_check = excluded.last_cron_check,
	timestamp = excluded.timestamp, status_since = excluded.status_since,
	last_source = excluded.last_source, labels = excluded.labels,
	pipeline_status = excluded.pipeline_status, drift_status = excluded.drift_status,
	stale_after = excluded.stale_after, pipeline_reported_at = excluded.pipeline_reported_at,
	cron_reported_at = excluded.cron_reported_at, legacy_written_at = excluded.legacy_written_at,
	imported = excluded.imported, stale_after_us = excluded.stale_after_us, head = excluded.head
	RETURNING rowid`

const insertEvent = `INSERT INTO events (time, server_group, host, source, status, previous_status,
	commit_sha, validation_status, changed_files, updated_by, changes) VALUES (?,?,?,?,?,?,?,?,?,?,?)`

const eventColumns = `id, time, server_group, host, source, status, previous_status,
	commit_sha, validation_status, changed_files, updated_by, changes, repo_name, branch`

// scanner is *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }

// nullTime reads a nullable unix-microseconds column.
type nullTime struct{ t *time.Time }

func (n nullTime) Scan(v any) error {
	switch v := v.(type) {
	case nil:
		*n.t = time.Time{}
	case int64:
		*n.t = time.UnixMicro(v).UTC()
	default:
		return fmt.Errorf("time column holds %T, want an integer", v)
	}
	return nil
}

// jsonCol reads a JSON text column into dst, a *[]string or a
// *map[string]string, never leaving nil behind.
type jsonCol struct{ dst any }

func (j jsonCol) Scan(v any) error {
	var b string
	switch v := v.(type) {
	case string:
		b = v
	case []byte:
		b = string(v)
	case nil:
	default:
		return fmt.Errorf("JSON column holds %T, want text", v)
	}
	switch dst := j.dst.(type) {
	case *[]string:
		l, err := decodeList(b)
		*dst = l
		return err
	case *map[string]string:
		m, err := decodeMap(b)
		*dst = m
		return err
	}
	return fmt.Errorf("JSON column into %T", j.dst)
}

// decodeList reads what jsonList wrote. encoding/json dominates the cost
// of listing thousands of servers, so the common case takes a fast path:
// json.Marshal escapes every quote, so a text without a backslash holds no
// quote inside its strings, and splitting on `","` is exact.
func decodeList(b string) ([]string, error) {
	switch {
	case b == "" || b == "[]" || b == "null":
		return []string{}, nil
	case len(b) >= 4 && b[:2] == `["` && b[len(b)-2:] == `"]` && !strings.ContainsRune(b, '\\'):
		return strings.Split(b[2:len(b)-2], `","`), nil
	}
	l := []string{}
	if err := json.Unmarshal([]byte(b), &l); err != nil {
		return []string{}, err
	}
	if l == nil {
		l = []string{}
	}
	return l, nil
}

// decodeMap reads what jsonMap wrote, with decodeList's fast path.
func decodeMap(b string) (map[string]string, error) {
	switch {
	case b == "" || b == "{}" || b == "null":
		return map[string]string{}, nil
	case len(b) >= 7 && b[:2] == `{"` && b[len(b)-2:] == `"}` && !strings.ContainsRune(b, '\\'):
		pairs := strings.Split(b[2:len(b)-2], `","`)
		m := make(map[string]string, len(pairs))
		for _, p := range pairs {
			k, v, ok := strings.Cut(p, `":"`)
			if !ok {
				return decodeMapSlow(b)
			}
			m[k] = v
		}
		return m, nil
	}
	return decodeMapSlow(b)
}

func decodeMapSlow(b string) (map[string]string, error) {
	m := map[string]string{}
	if err := json.Unmarshal([]byte(b), &m); err != nil {
		return map[string]string{}, err
	}
	if m == nil {
		m = map[string]string{}
	}
	return m, nil
}

func scanServer(sc scanner, s *gitops.Server, extra ...any) error {
	// Enums scan into plain strings: database/sql converts to named string
	// types by reflection, which costs when listing thousands of rows.
	var status, validation, source, pipelineStatus, driftStatus string
	var imported int64
	dest := []any{
		&s.ServerGroup, &s.Host, &s.ProjectName, &s.RepoName, &s.ServerType, &s.Environment,
		&status, jsonCol{&s.ChangedFiles}, &validation, &s.ValidationMessage, &s.CommitSHA, &s.Branch, &s.UpdatedBy,
		nullTime{&s.LastPipelineRun}, nullTime{&s.LastCronCheck}, nullTime{&s.Timestamp}, nullTime{&s.StatusSince},
		&source, jsonCol{&s.Labels}, &pipelineStatus, &driftStatus, &s.StaleAfter,
		nullTime{&s.PipelineReportedAt}, nullTime{&s.CronReportedAt}, nullTime{&s.LegacyWrittenAt}, &imported,
	}
	if err := sc.Scan(append(dest, extra...)...); err != nil {
		return err
	}
	s.Status, s.ValidationStatus, s.LastSource = gitops.Status(status), gitops.ValidationStatus(validation), gitops.Source(source)
	s.PipelineStatus, s.DriftStatus = gitops.Status(pipelineStatus), gitops.Status(driftStatus)
	s.Imported = imported != 0
	return nil
}

// globalStaleUS is the global threshold in the encoding of staleAfterUS.
func globalStaleUS(d time.Duration) int64 {
	if d <= 0 {
		return -1
	}
	return int64(d / time.Microsecond)
}

// jsonList and jsonMap are the changed_files and labels columns' JSON, as
// json.Marshal writes them (nil as [] and {}).
func jsonList(l []string) string { return string(gitops.AppendJSONStrings(nil, l)) }

func jsonMap(m map[string]string) string { return string(gitops.AppendJSONLabels(nil, m)) }

// normalize makes s what reading it back returns: times in UTC at
// microsecond precision, empty rather than nil lists and maps, and strings
// in valid UTF-8 (see validUTF8), as the JSON columns and heads keep them.
func normalize(s *gitops.Server) {
	for _, p := range []*string{&s.ServerGroup, &s.Host, &s.ProjectName, &s.RepoName, &s.ServerType,
		&s.Environment, &s.ValidationMessage, &s.CommitSHA, &s.Branch, &s.UpdatedBy, &s.StaleAfter} {
		*p = validUTF8(*p)
	}
	s.Status, s.ValidationStatus = gitops.Status(validUTF8(string(s.Status))), gitops.ValidationStatus(validUTF8(string(s.ValidationStatus)))
	s.LastSource, s.PipelineStatus = gitops.Source(validUTF8(string(s.LastSource))), gitops.Status(validUTF8(string(s.PipelineStatus)))
	s.DriftStatus = gitops.Status(validUTF8(string(s.DriftStatus)))
	for i, f := range s.ChangedFiles {
		if !utf8.ValidString(f) {
			s.ChangedFiles = slices.Clone(s.ChangedFiles)
			for j := i; j < len(s.ChangedFiles); j++ {
				s.ChangedFiles[j] = validUTF8(s.ChangedFiles[j])
			}
			break
		}
	}
	s.Labels = validLabels(s.Labels)
	for _, t := range []*time.Time{&s.LastPipelineRun, &s.LastCronCheck, &s.Timestamp, &s.StatusSince,
		&s.PipelineReportedAt, &s.CronReportedAt, &s.LegacyWrittenAt} {
		if !t.IsZero() {
			*t = time.UnixMicro(t.UnixMicro()).UTC()
		}
	}
	if s.ChangedFiles == nil {
		s.ChangedFiles = []string{}
	}
	if s.Labels == nil {
		s.Labels = map[string]string{}
	}
}

// validLabels returns m with its keys and values in valid UTF-8, as
// writing it as JSON and reading it back gives: where two keys become one,
// the value of the later key in byte order wins, as encoding/json writes
// keys in that order and reading keeps the last.
func validLabels(m map[string]string) map[string]string {
	clean := true
	for k, v := range m {
		if !utf8.ValidString(k) || !utf8.ValidString(v) {
			clean = false
			break
		}
	}
	if clean {
		return m
	}
	out := make(map[string]string, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out[validUTF8(k)] = validUTF8(m[k])
	}
	return out
}

func scanEvent(sc scanner, e *gitops.Event) error {
	var changes sql.NullString
	if err := sc.Scan(&e.ID, nullTime{&e.Time.Time}, &e.ServerGroup, &e.Host, &e.Source, &e.Status, &e.PreviousStatus,
		&e.CommitSHA, &e.ValidationStatus, jsonCol{&e.ChangedFiles}, &e.UpdatedBy, &changes, &e.RepoName, &e.Branch); err != nil {
		return err
	}
	if e.Source == gitops.SourceGit {
		e.ServerGroup, e.Host = "", "" // stored as noServer (see desired.go)
	}
	if !changes.Valid {
		// Written by a binary older than migration 0003.
		e.Changes = gitops.DeriveChanges(e)
		return nil
	}
	l, err := decodeList(changes.String)
	if err != nil {
		return fmt.Errorf("events.changes: %w", err)
	}
	e.Changes = make([]gitops.Change, len(l))
	for i, c := range l {
		e.Changes[i] = gitops.Change(c)
	}
	return nil
}

func eventArgs(e *gitops.Event) []any {
	changes := make([]string, len(e.Changes))
	for i, c := range e.Changes {
		changes[i] = string(c)
	}
	return []any{e.Time.UnixMicro(), e.ServerGroup, e.Host, string(e.Source), string(e.Status), string(e.PreviousStatus),
		e.CommitSHA, string(e.ValidationStatus), jsonList(e.ChangedFiles), e.UpdatedBy, jsonList(changes)}
}

// validUTF8 replaces each byte of s that is not part of valid UTF-8 with
// U+FFFD, as encoding/json and AppendJSON do when they write s. Stores
// keep strings so, so that a record reads back, from its columns or from
// its head, as it was returned when written.
func validUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b.WriteString("\uFFFD")
		} else {
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}
