package postgres

import (
	"encoding/json"
	"fmt"
	"time"
	"unicode/utf8"

	gitops "github.com/gitops-status/gitops-status"
	"github.com/jackc/pgx/v5/pgtype"
)

// serverColumns are the servers columns a record is read from and written
// to, in scan and argument order. stale_after_ns is derived from
// stale_after: written, never read back.
const serverColumns = `server_group, host, project_name, repo_name, server_type, environment,
	status, changed_files, validation_status, validation_message, commit_sha, branch, updated_by,
	last_pipeline_run, last_cron_check, "timestamp", status_since, last_source, labels,
	pipeline_status, drift_status, stale_after, pipeline_reported_at, cron_reported_at,
	legacy_written_at, imported`

// serverColumnList is serverColumns plus stale_after_ns, head and change,
// as Import copies them.
var serverColumnList = []string{"server_group", "host", "project_name", "repo_name", "server_type", "environment",
	"status", "changed_files", "validation_status", "validation_message", "commit_sha", "branch", "updated_by",
	"last_pipeline_run", "last_cron_check", "timestamp", "status_since", "last_source", "labels",
	"pipeline_status", "drift_status", "stale_after", "pipeline_reported_at", "cron_reported_at",
	"legacy_written_at", "imported", "stale_after_ns", "head", "change"}

const selectServer = `SELECT ` + serverColumns + ` FROM servers`

// insertServer takes serverArgs and the head, stamps the row with the
// counter value the transaction took before (bumpCounter), and returns the
// transaction's id, as the UPDATEs of partialUpdate do.
const insertServer = `INSERT INTO servers (` + serverColumns + `, stale_after_ns, head, change)
	VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21,$22,$23,$24,$25,$26,$27,$28,
		` + changeSetting + `)
	RETURNING pg_current_xact_id()::text`

// upsertSet is the ON CONFLICT clause that makes an insert rewrite an
// existing row in place.
const upsertSet = ` ON CONFLICT (server_group, host) DO UPDATE SET
	project_name = excluded.project_name, repo_name = excluded.repo_name,
	server_type = excluded.server_type, environment = excluded.environment,
	status = excluded.status, changed_files = excluded.changed_files,
	validation_status = excluded.validation_status, validation_message = excluded.validation_message,
	commit_sha = excluded.commit_sha, branch = excluded.branch, updated_by = excluded.updated_by,
	last_pipeline_run = excluded.last_pipeline_run, last_cron_check = excluded.last_cron_check,
	"timestamp" = excluded."timestamp", status_since = excluded.status_since,
	last_source = excluded.last_source, labels = excluded.labels,
	pipeline_status = excluded.pipeline_status, drift_status = excluded.drift_status,
	stale_after = excluded.stale_after, pipeline_reported_at = excluded.pipeline_reported_at,
	cron_reported_at = excluded.cron_reported_at, legacy_written_at = excluded.legacy_written_at,
	imported = excluded.imported, stale_after_ns = excluded.stale_after_ns,
	head = excluded.head, change = excluded.change`

const insertEvent = `INSERT INTO events ("time", server_group, host, source, status, previous_status,
	commit_sha, validation_status, changed_files, updated_by, changes) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)
	RETURNING id`

const eventColumns = `id, "time", server_group, host, source, status, previous_status,
	commit_sha, validation_status, changed_files, updated_by, changes, repo_name, branch`

// scanner is pgx.Row or pgx.Rows.
type scanner interface{ Scan(dest ...any) error }

// serverRow holds one row's columns as scanned, before they become a
// gitops.Server.
type serverRow struct {
	group, host, project, repo, serverType, env        string
	status, validation, validationMsg, commit, branch  string
	updatedBy, lastSource, pipelineStatus, driftStatus string
	staleAfter                                         string
	files                                              []string
	labels                                             []byte
	lastPipeline, lastCron, timestamp, statusSince     pgtype.Timestamptz
	pipelineReported, cronReported, legacyWritten      pgtype.Timestamptz
	imported                                           bool
}

func scanServer(sc scanner, s *gitops.Server, extra ...any) error {
	var r serverRow
	dest := []any{
		&r.group, &r.host, &r.project, &r.repo, &r.serverType, &r.env,
		&r.status, &r.files, &r.validation, &r.validationMsg, &r.commit, &r.branch, &r.updatedBy,
		&r.lastPipeline, &r.lastCron, &r.timestamp, &r.statusSince, &r.lastSource, &r.labels,
		&r.pipelineStatus, &r.driftStatus, &r.staleAfter, &r.pipelineReported, &r.cronReported,
		&r.legacyWritten, &r.imported,
	}
	if err := sc.Scan(append(dest, extra...)...); err != nil {
		return err
	}
	labels, err := readLabels(r.labels)
	if err != nil {
		return fmt.Errorf("labels of %s/%s: %w", r.group, r.host, err)
	}
	*s = gitops.Server{
		ServerGroup:        r.group,
		Host:               r.host,
		ProjectName:        r.project,
		RepoName:           r.repo,
		ServerType:         r.serverType,
		Environment:        r.env,
		Status:             gitops.Status(r.status),
		ChangedFiles:       nonNilList(r.files),
		ValidationStatus:   gitops.ValidationStatus(r.validation),
		ValidationMessage:  r.validationMsg,
		CommitSHA:          r.commit,
		Branch:             r.branch,
		UpdatedBy:          r.updatedBy,
		LastPipelineRun:    fromTS(r.lastPipeline),
		LastCronCheck:      fromTS(r.lastCron),
		Timestamp:          fromTS(r.timestamp),
		StatusSince:        fromTS(r.statusSince),
		LastSource:         gitops.Source(r.lastSource),
		Labels:             labels,
		PipelineStatus:     gitops.Status(r.pipelineStatus),
		DriftStatus:        gitops.Status(r.driftStatus),
		StaleAfter:         r.staleAfter,
		PipelineReportedAt: fromTS(r.pipelineReported),
		CronReportedAt:     fromTS(r.cronReported),
		LegacyWrittenAt:    fromTS(r.legacyWritten),
		Imported:           r.imported,
	}
	return nil
}

// readLabels decodes the labels column, with a fast path for the empty map
// most rows hold.
func readLabels(b []byte) (map[string]string, error) {
	if len(b) == 0 || string(b) == "{}" || string(b) == "null" {
		return map[string]string{}, nil
	}
	if m, ok := readPlainLabels(b); ok {
		return m, nil
	}
	m := map[string]string{}
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	if m == nil {
		m = map[string]string{}
	}
	return m, nil
}

// readPlainLabels reads the common case of the labels column by hand:
// jsonb text of an object of strings without escapes, as PostgreSQL writes
// it ({"k": "v", "k2": "v2"}). ok is false for anything else, which
// encoding/json then reads; listing a large fleet spends most of its time
// decoding rows otherwise.
func readPlainLabels(b []byte) (m map[string]string, ok bool) {
	i := 0
	skip := func() {
		for i < len(b) && (b[i] == ' ' || b[i] == '\n' || b[i] == '\t' || b[i] == '\r') {
			i++
		}
	}
	str := func() (string, bool) {
		skip()
		if i >= len(b) || b[i] != '"' {
			return "", false
		}
		start := i + 1
		for i = start; i < len(b); i++ {
			switch {
			case b[i] == '"':
				i++
				if !utf8.Valid(b[start : i-1]) {
					return "", false // encoding/json replaces bad bytes
				}
				return string(b[start : i-1]), true
			case b[i] == '\\' || b[i] < 0x20:
				return "", false
			}
		}
		return "", false
	}
	skip()
	if i >= len(b) || b[i] != '{' {
		return nil, false
	}
	i++
	m = map[string]string{}
	for {
		k, ok := str()
		if !ok {
			return nil, false
		}
		skip()
		if i >= len(b) || b[i] != ':' {
			return nil, false
		}
		i++
		v, ok := str()
		if !ok {
			return nil, false
		}
		m[k] = v
		skip()
		if i >= len(b) {
			return nil, false
		}
		switch b[i] {
		case ',':
			i++
		case '}':
			i++
			skip()
			return m, i == len(b)
		default:
			return nil, false
		}
	}
}

func scanEvent(sc scanner, e *gitops.Event) error {
	var at pgtype.Timestamptz
	var source, status, prev, validation string
	var changes []string // nil for NULL
	if err := sc.Scan(&e.ID, &at, &e.ServerGroup, &e.Host, &source, &status, &prev,
		&e.CommitSHA, &validation, &e.ChangedFiles, &e.UpdatedBy, &changes, &e.RepoName, &e.Branch); err != nil {
		return err
	}
	e.Time = gitops.Time{Time: fromTS(at)}
	e.Source, e.Status, e.PreviousStatus = gitops.Source(source), gitops.Status(status), gitops.Status(prev)
	e.ValidationStatus = gitops.ValidationStatus(validation)
	e.ChangedFiles = nonNilList(e.ChangedFiles)
	if changes == nil {
		// Written by a binary older than migration 0005.
		e.Changes = gitops.DeriveChanges(e)
		return nil
	}
	e.Changes = make([]gitops.Change, len(changes))
	for i, c := range changes {
		e.Changes[i] = gitops.Change(c)
	}
	return nil
}

// ts is a time as stored: NULL when unset. pgx sends whole microseconds,
// dropping any nanoseconds, as gitops.Now does.
func ts(t time.Time) pgtype.Timestamptz {
	return pgtype.Timestamptz{Time: t, Valid: !t.IsZero()}
}

func fromTS(t pgtype.Timestamptz) time.Time {
	if !t.Valid {
		return time.Time{}
	}
	return t.Time.UTC()
}

// staleAfterNS is the stale_after_ns column for a stale_after value: NULL
// when the global threshold applies ("" or unreadable, as
// gitops.Server.StaleThreshold falls back), else the threshold in
// nanoseconds, where <= 0 means never stale.
func staleAfterNS(s string) pgtype.Int8 {
	if s == "" {
		return pgtype.Int8{}
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return pgtype.Int8{}
	}
	return pgtype.Int8{Int64: int64(d), Valid: true}
}

func eventArgs(e *gitops.Event) []any {
	return []any{ts(e.Time.Time), e.ServerGroup, e.Host, string(e.Source), string(e.Status), string(e.PreviousStatus),
		e.CommitSHA, string(e.ValidationStatus), nonNilList(e.ChangedFiles), e.UpdatedBy, changeList(e.Changes)}
}

// changeList is an event's changes as the changes column takes them: never
// NULL, which marks events written by older binaries.
func changeList(cs []gitops.Change) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = string(c)
	}
	return out
}

// micro is t as stored: UTC, whole microseconds (rounded down, as pgx
// sends it), zero when unset.
func micro(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return gitops.Now(t)
}

// normalize makes s what reading it back returns: times in UTC at
// microsecond precision, and empty rather than nil lists and maps.
func normalize(s *gitops.Server) {
	for _, t := range []*time.Time{&s.LastPipelineRun, &s.LastCronCheck, &s.Timestamp, &s.StatusSince,
		&s.PipelineReportedAt, &s.CronReportedAt, &s.LegacyWrittenAt} {
		*t = micro(*t)
	}
	s.ChangedFiles = nonNilList(s.ChangedFiles)
	if s.Labels == nil {
		s.Labels = map[string]string{}
	}
}

func nonNilList(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}
