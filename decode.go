package gitops

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
)

// object is a decoded JSON object whose fields are read one by one, so that
// each wrong type is reported against its own field and unknown fields can
// be named in warnings.
type object map[string]json.RawMessage

// decodeObject reads body as exactly one JSON object.
func decodeObject(body []byte) (object, error) {
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) == 0 {
		return nil, Errorf(EINVALID, "the request body is empty; a JSON object is expected")
	}
	if trimmed[0] != '{' {
		return nil, Errorf(EINVALID, "the body must be a JSON object, such as {\"server_group\": \"rsyslog-prod\", ...}")
	}
	if o, ok := scanObject(body); ok {
		return o, nil
	}
	var o object
	if err := json.Unmarshal(body, &o); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return nil, Errorf(EINVALID, "malformed JSON at byte %d: %s; the body must be exactly one JSON object", se.Offset, se.Error())
		}
		return nil, Errorf(EINVALID, "malformed JSON: %s; the body must be exactly one JSON object", err.Error())
	}
	return o, nil
}

func isNull(raw json.RawMessage) bool { return len(raw) == 0 || string(raw) == "null" }

// str reads a string field; absent or null is "".
func (o object) str(field string) (string, error) {
	raw, ok := o[field]
	if !ok || isNull(raw) {
		return "", nil
	}
	if s, ok := plainString(raw); ok {
		return s, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", FieldErrorf(field, "%s must be a string, got %s", field, jsonKind(raw))
	}
	return s, noNUL(field, s)
}

// noNUL refuses the NUL character, which PostgreSQL cannot store in text:
// refusing it everywhere keeps both backends answering the same. Only
// escaped input (\u0000) can carry it, so plain strings skip this check.
func noNUL(field string, ss ...string) error {
	for _, s := range ss {
		if strings.IndexByte(s, 0) >= 0 {
			return FieldErrorf(field, "%s must not contain the NUL character (\\u0000)", field)
		}
	}
	return nil
}

// has reports whether field is present and not null.
func (o object) has(field string) bool {
	raw, ok := o[field]
	return ok && !isNull(raw)
}

func (o object) strList(field string) ([]string, error) {
	raw, ok := o[field]
	if !ok || isNull(raw) {
		return []string{}, nil
	}
	if l, ok := plainStrings(raw); ok {
		return l, nil
	}
	// Pointers tell a null entry from "": encoding/json leaves a null entry
	// as "", which would store a file with no name.
	var ps []*string
	if err := json.Unmarshal(raw, &ps); err != nil {
		var items []json.RawMessage
		if json.Unmarshal(raw, &items) == nil {
			for i, it := range items {
				if k := jsonKind(it); k != "a string" && k != "null" {
					return nil, FieldErrorf(field, "%s must be a list of strings, got %s at index %d", field, k, i)
				}
			}
		}
		return nil, FieldErrorf(field, "%s must be a list of strings, got %s", field, jsonKind(raw))
	}
	l := make([]string, len(ps))
	for i, p := range ps {
		if p == nil {
			return nil, FieldErrorf(field, "%s must be a list of strings, got null at index %d", field, i)
		}
		if err := noNUL(field, *p); err != nil {
			return nil, err
		}
		l[i] = *p
	}
	return l, nil
}

func (o object) strMap(field string) (map[string]string, error) {
	raw, ok := o[field]
	if !ok || isNull(raw) {
		return map[string]string{}, nil
	}
	if m, ok := plainStringMap(raw); ok {
		return m, nil
	}
	var pm map[string]*string
	if err := json.Unmarshal(raw, &pm); err != nil {
		var items map[string]json.RawMessage
		if json.Unmarshal(raw, &items) == nil {
			for k, v := range items {
				if kind := jsonKind(v); kind != "a string" && kind != "null" {
					return nil, FieldErrorf(field, "%s values must be strings, got %s for %q", field, kind, k)
				}
			}
		}
		return nil, FieldErrorf(field, "%s must be an object of string values, such as {\"datacenter\": \"dc1\"}, got %s", field, jsonKind(raw))
	}
	m := make(map[string]string, len(pm))
	for k, v := range pm {
		if k == "" {
			return nil, FieldErrorf(field, "%s keys must not be empty", field)
		}
		if v == nil {
			return nil, FieldErrorf(field, "%s values must be strings, got null for %q", field, k)
		}
		if err := noNUL(field, k, *v); err != nil {
			return nil, err
		}
		m[k] = *v
	}
	return m, nil
}

func (o object) time(field string) (time.Time, error) {
	raw, ok := o[field]
	if !ok || isNull(raw) {
		return time.Time{}, nil
	}
	if s, ok := plainString(raw); ok {
		if t, err := ParseTime(s); err == nil {
			return t.Truncate(time.Microsecond), nil
		}
	}
	var t Time
	if err := json.Unmarshal(raw, &t); err != nil {
		return time.Time{}, FieldErrorf(field, "%s: %s", field, err.Error())
	}
	return t.Truncate(time.Microsecond), nil
}

// boolean reads a true/false field; absent or null is false.
func (o object) boolean(field string) (bool, error) {
	raw, ok := o[field]
	if !ok || isNull(raw) {
		return false, nil
	}
	var b bool
	if err := json.Unmarshal(raw, &b); err != nil {
		return false, FieldErrorf(field, "%s must be true or false, got %s", field, jsonKind(raw))
	}
	return b, nil
}

func (o object) identifier(field string) (string, error) {
	s, err := o.str(field)
	if err != nil {
		return "", err
	}
	return s, ValidateIdentifier(field, s)
}

func jsonKind(raw json.RawMessage) string {
	t := bytes.TrimLeft(raw, " \t\r\n")
	if len(t) == 0 {
		return "nothing"
	}
	switch t[0] {
	case '"':
		return "a string"
	case '{':
		return "an object"
	case '[':
		return "a list"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	default:
		return "a number"
	}
}

// ParseOptions carries what validation needs from the server.
type ParseOptions struct {
	// Now is the server's clock.
	Now time.Time
	// MaxClockSkew is how far ahead of Now a reported time may be.
	MaxClockSkew time.Duration
	// LegacyGroup is the server_group legacy v1 updates go to; "" = the repo.
	LegacyGroup string
}

func (p ParseOptions) checkSkew(field string, t time.Time) error {
	if t.IsZero() || p.Now.IsZero() {
		return nil
	}
	if ahead := t.Sub(p.Now); ahead > p.MaxClockSkew {
		return FieldErrorf(field, "%s %s is %s ahead of the server's clock; at most %s ahead is accepted (max clock skew)",
			field, FormatTime(t), ahead.Round(time.Second), p.MaxClockSkew)
	}
	return nil
}

func parseStaleAfter(field, s string) (string, error) {
	if s == "" {
		return "", nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return "", FieldErrorf(field, "%s %q is not a duration; use a Go duration such as \"30m\", \"2h\", or \"0s\" for never stale", field, s)
	}
	return s, nil
}

// Field sets, by who may write them.
var (
	serverOwnedFields = []string{"timestamp", "status_since", "last_source", "stale", "pipeline_status",
		"drift_status", "changed_files_count", "pipeline_reported_at", "cron_reported_at"}
	identityFields     = []string{"project_name", "repo_name", "server_type", "environment"}
	pipelineOnlyFields = []string{"validation_status", "validation_message", "commit_sha", "branch", "updated_by", "labels"}
)

// warnFields returns a warning for every field of o not in known, naming the
// fields the server owns and those ignored by kind separately.
func warnFields(o object, known map[string]bool, ignoredBecause map[string]string) []string {
	allKnown := true
	for k := range o {
		if !known[k] {
			allKnown = false
			break
		}
	}
	if allKnown {
		return nil
	}
	var w []string
	names := make([]string, 0, len(o))
	for k := range o {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if known[k] {
			continue
		}
		if why, ok := ignoredBecause[k]; ok {
			w = append(w, fmt.Sprintf("field %q %s and was ignored", k, why))
			continue
		}
		w = append(w, fmt.Sprintf("unknown field %q was ignored", k))
	}
	return w
}

func fieldSet(lists ...[]string) map[string]bool {
	m := map[string]bool{}
	for _, l := range lists {
		for _, f := range l {
			m[f] = true
		}
	}
	return m
}

func reasons(why string, lists ...[]string) map[string]string {
	m := map[string]string{}
	for _, l := range lists {
		for _, f := range l {
			m[f] = why
		}
	}
	return m
}

var (
	pipelineKnown   = fieldSet([]string{"server_group", "host", "status", "changed_files", "stale_after", "reported_at", "last_pipeline_run"}, identityFields, pipelineOnlyFields)
	pipelineIgnored = reasons("is set by the server", serverOwnedFields, []string{"last_cron_check"})
	cronKnown       = fieldSet([]string{"server_group", "host", "status", "changed_files", "stale_after", "reported_at", "last_cron_check"}, identityFields)
	cronIgnored     = mergeReasons(reasons("is set by the server", serverOwnedFields),
		reasons("is set only by pipeline updates (POST /status/pipeline)", pipelineOnlyFields, []string{"last_pipeline_run"}))
)

func mergeReasons(ms ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range ms {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

// reportedAt reads reported_at, falling back to alias (the time field the
// v2.0 migration guide told clients to send) when reported_at is absent.
func (o object) reportedAt(alias string, p ParseOptions) (time.Time, error) {
	field := "reported_at"
	if !o.has(field) {
		field = alias
	}
	t, err := o.time(field)
	if err != nil {
		return t, err
	}
	return t, p.checkSkew(field, t)
}

// ParsePipelineUpdate reads the body of POST /status/pipeline. It returns
// the update and warnings about fields it ignored; errors are EINVALID.
func ParsePipelineUpdate(body []byte, p ParseOptions) (*PipelineUpdate, []string, error) {
	o, err := decodeObject(body)
	if err != nil {
		return nil, nil, err
	}
	u := &PipelineUpdate{Source: SourcePipeline}
	if u.ServerGroup, err = o.identifier("server_group"); err != nil {
		return nil, nil, err
	}
	if u.Host, err = o.identifier("host"); err != nil {
		return nil, nil, err
	}
	if u.Status, err = o.status(); err != nil {
		return nil, nil, err
	}
	for _, f := range []struct {
		name string
		dst  *string
	}{
		{"project_name", &u.ProjectName}, {"repo_name", &u.RepoName}, {"server_type", &u.ServerType},
		{"environment", &u.Environment}, {"validation_message", &u.ValidationMessage},
		{"commit_sha", &u.CommitSHA}, {"branch", &u.Branch}, {"updated_by", &u.UpdatedBy},
	} {
		if *f.dst, err = o.str(f.name); err != nil {
			return nil, nil, err
		}
	}
	u.ValidationStatus = ValidationUnknown
	if vs, err := o.str("validation_status"); err != nil {
		return nil, nil, err
	} else if vs != "" {
		if u.ValidationStatus, err = ParseValidationStatus("validation_status", vs); err != nil {
			return nil, nil, err
		}
	}
	if u.ChangedFiles, err = o.strList("changed_files"); err != nil {
		return nil, nil, err
	}
	if u.Labels, err = o.strMap("labels"); err != nil {
		return nil, nil, err
	}
	sa, err := o.str("stale_after")
	if err != nil {
		return nil, nil, err
	}
	if u.StaleAfter, err = parseStaleAfter("stale_after", sa); err != nil {
		return nil, nil, err
	}
	if u.ReportedAt, err = o.reportedAt("last_pipeline_run", p); err != nil {
		return nil, nil, err
	}
	return u, warnFields(o, pipelineKnown, pipelineIgnored), nil
}

func (o object) status() (Status, error) {
	s, err := o.str("status")
	if err != nil {
		return "", err
	}
	if s == "" {
		return "", FieldErrorf("status", "status is required: one of %s", joinQuoted(Statuses))
	}
	return ParseStatus("status", s)
}

// ParseCronUpdate reads the body of POST /status/cron. It returns the
// update and warnings about fields it ignored; errors are EINVALID.
func ParseCronUpdate(body []byte, p ParseOptions) (*CronUpdate, []string, error) {
	o, err := decodeObject(body)
	if err != nil {
		return nil, nil, err
	}
	u := &CronUpdate{}
	if u.ServerGroup, err = o.identifier("server_group"); err != nil {
		return nil, nil, err
	}
	if u.Host, err = o.identifier("host"); err != nil {
		return nil, nil, err
	}
	if u.Status, err = o.status(); err != nil {
		return nil, nil, err
	}
	for _, f := range []struct {
		name string
		dst  *string
	}{
		{"project_name", &u.ProjectName}, {"repo_name", &u.RepoName},
		{"server_type", &u.ServerType}, {"environment", &u.Environment},
	} {
		if *f.dst, err = o.str(f.name); err != nil {
			return nil, nil, err
		}
	}
	if u.ChangedFiles, err = o.strList("changed_files"); err != nil {
		return nil, nil, err
	}
	if o.has("stale_after") {
		sa, err := o.str("stale_after")
		if err != nil {
			return nil, nil, err
		}
		if sa, err = parseStaleAfter("stale_after", sa); err != nil {
			return nil, nil, err
		}
		u.StaleAfter = &sa
	}
	if u.ReportedAt, err = o.reportedAt("last_cron_check", p); err != nil {
		return nil, nil, err
	}
	return u, warnFields(o, cronKnown, cronIgnored), nil
}

var (
	legacyKnown = fieldSet([]string{"repo", "server", "sync_status", "drift_count", "deployed_files", "drifted_files", "last_check"})
)

// ParseLegacyUpdate reads a v1 document (POST /api/status) and converts it
// to the pipeline-kind update SPEC §4 describes.
func ParseLegacyUpdate(body []byte, p ParseOptions) (*PipelineUpdate, []string, error) {
	o, err := decodeObject(body)
	if err != nil {
		return nil, nil, err
	}
	v, err := o.v1()
	if err != nil {
		return nil, nil, err
	}
	if err := p.checkSkew("last_check", v.LastCheck); err != nil {
		return nil, nil, err
	}
	u, err := v.update(p.LegacyGroup)
	if err != nil {
		return nil, nil, err
	}
	return u, warnFields(o, legacyKnown, nil), nil
}

// v1 is a decoded v1 document.
type v1 struct {
	Repo, Server  string
	SyncStatus    Status
	DeployedFiles []string
	DriftedFiles  []string
	LastCheck     time.Time
}

func (o object) v1() (v1, error) {
	var v v1
	var err error
	if v.Repo, err = o.str("repo"); err != nil {
		return v, err
	}
	if v.Server, err = o.str("server"); err != nil {
		return v, err
	}
	ss, err := o.str("sync_status")
	if err != nil {
		return v, err
	}
	if v.SyncStatus, err = ParseV1SyncStatus(ss); err != nil {
		return v, err
	}
	if raw, ok := o["drift_count"]; ok && !isNull(raw) {
		// It is derived on read, so any JSON number will do; decoding it into
		// a float64 would refuse numbers out of its range.
		if k := jsonKind(raw); k != "a number" {
			return v, FieldErrorf("drift_count", "drift_count must be a number, got %s", k)
		}
	}
	if v.DeployedFiles, err = o.strList("deployed_files"); err != nil {
		return v, err
	}
	if v.DriftedFiles, err = o.strList("drifted_files"); err != nil {
		return v, err
	}
	if v.LastCheck, err = o.time("last_check"); err != nil {
		return v, err
	}
	return v, nil
}

// ParseV1SyncStatus reads a v1 sync_status in any case: SYNCED, OUT_OF_SYNC,
// FAILED, UNKNOWN, and DRIFT or DRIFTED meaning out of sync.
func ParseV1SyncStatus(s string) (Status, error) {
	switch asciiLower(s) {
	case "synced":
		return StatusSynced, nil
	case "out_of_sync", "drift", "drifted":
		return StatusOutOfSync, nil
	case "failed":
		return StatusFailed, nil
	case "unknown":
		return StatusUnknown, nil
	case "":
		return "", FieldErrorf("sync_status", "sync_status is required: one of \"SYNCED\", \"OUT_OF_SYNC\", \"FAILED\", \"UNKNOWN\" (\"DRIFT\" and \"DRIFTED\" also mean out of sync), in any case")
	}
	return "", FieldErrorf("sync_status", "sync_status %q is not one of \"SYNCED\", \"OUT_OF_SYNC\", \"FAILED\", \"UNKNOWN\" (\"DRIFT\" and \"DRIFTED\" also mean out of sync), in any case", s)
}

// update converts v to the pipeline-kind update of SPEC §4.
func (v v1) update(legacyGroup string) (*PipelineUpdate, error) {
	group, groupField := legacyGroup, "repo"
	if group == "" {
		group = v.Repo
	} else {
		groupField = "legacy group"
	}
	if err := ValidateIdentifier(groupField, group); err != nil {
		return nil, err
	}
	if err := ValidateIdentifier("server", v.Server); err != nil {
		return nil, err
	}
	files := v.DeployedFiles
	if len(v.DriftedFiles) > 0 {
		files = v.DriftedFiles
	}
	return &PipelineUpdate{
		Source:           SourceLegacy,
		ServerGroup:      group,
		Host:             v.Server,
		RepoName:         v.Repo,
		ServerType:       v.Repo,
		Status:           v.SyncStatus,
		ChangedFiles:     append([]string{}, files...),
		ValidationStatus: ValidationUnknown,
		UpdatedBy:        "legacy-api",
		Labels:           map[string]string{},
		LastCheck:        v.LastCheck,
	}, nil
}
