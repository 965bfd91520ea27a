package gitops

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Document is a status.json file: v2 documents hold every server, v1 ones a
// single server.
type Document struct {
	// Format is "1" or "2.0".
	Format  string
	Servers []Server
	// Heads are the v2 document's "desired" list; a document without one
	// (v1, v2.0's own) has none.
	Heads []Head
	// Skipped describes each record that was left out and why.
	Skipped []string
}

// ParseDocument reads a v1 single-object or v2 status.json. Records whose
// key breaks the identifier rules, or whose fields cannot be read, are
// skipped and described in Skipped; only a file that is not a JSON object
// of either format is an error (EINVALID).
func ParseDocument(data []byte, p ParseOptions) (*Document, error) {
	o, err := decodeObject(data)
	if err != nil {
		return nil, err
	}
	if _, ok := o["servers"]; ok {
		return parseV2(o, p)
	}
	if _, ok := o["sync_status"]; ok || o.has("server") {
		return parseV1(o, p)
	}
	return nil, Errorf(EINVALID, "not a status.json: expected a v2 document {\"version\": \"2.0\", \"servers\": {...}} or a v1 object with \"server\" and \"sync_status\"")
}

func parseV1(o object, p ParseOptions) (*Document, error) {
	doc := &Document{Format: "1"}
	v, err := o.v1()
	if err == nil {
		var u *PipelineUpdate
		if u, err = v.update(p.LegacyGroup); err == nil {
			at := v.LastCheck
			if at.IsZero() {
				at = Now(p.Now)
			}
			s := u.Apply(nil, at).Server
			s.LastPipelineRun = at
			s.LegacyWrittenAt = time.Time{}
			s.Imported = true
			doc.Servers = append(doc.Servers, s)
			return doc, nil
		}
	}
	doc.Skipped = append(doc.Skipped, fmt.Sprintf("v1 record for server %q: %s", v.Server, ErrorMessage(err)))
	return doc, nil
}

func parseV2(o object, p ParseOptions) (*Document, error) {
	doc := &Document{Format: "2.0"}
	var servers map[string]json.RawMessage
	if err := json.Unmarshal(o["servers"], &servers); err != nil {
		return nil, Errorf(EINVALID, "\"servers\" must be an object of \"group/host\": record, got %s", jsonKind(o["servers"]))
	}
	keys := make([]string, 0, len(servers))
	for k := range servers {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		s, err := parseRecord(k, servers[k], p)
		if err != nil {
			doc.Skipped = append(doc.Skipped, fmt.Sprintf("record %q: %s", k, ErrorMessage(err)))
			continue
		}
		doc.Servers = append(doc.Servers, s)
	}
	if raw, ok := o["desired"]; ok && !isNull(raw) {
		var heads []json.RawMessage
		if err := json.Unmarshal(raw, &heads); err != nil {
			return nil, Errorf(EINVALID, "\"desired\" must be a list of heads {\"repo_name\", \"branch\", \"commit_sha\", ...}, got %s", jsonKind(raw))
		}
		for i, r := range heads {
			var h Head
			if err := h.UnmarshalJSON(r); err != nil {
				doc.Skipped = append(doc.Skipped, fmt.Sprintf("desired head %d: %s", i, ErrorMessage(err)))
				continue
			}
			if h.UpdatedAt.IsZero() {
				h.UpdatedAt = Now(p.Now)
			}
			doc.Heads = append(doc.Heads, h)
		}
	}
	return doc, nil
}

// parseRecord reads one v2 record, keeping every field it carries and
// deriving those a v2.0 file lacks.
func parseRecord(key string, raw json.RawMessage, p ParseOptions) (Server, error) {
	if !bytes.HasPrefix(bytes.TrimLeft(raw, " \t\r\n"), []byte("{")) {
		return Server{}, Errorf(EINVALID, "a record must be a JSON object")
	}
	o, err := decodeObject(raw)
	if err != nil {
		return Server{}, err
	}
	return parseRecordObject(key, o, p)
}

// UnmarshalJSON reads a record as MarshalJSON writes it and the API answers
// it: every stored field and the computed stale, with the rules of a v2
// document's record (identifiers and enumerations checked, times read
// leniently, fields a v2.0 record lacks derived). Fields it does not know,
// such as a response's "warnings" or those a newer server adds, are
// ignored. Errors are EINVALID *Error values naming the field.
func (s *Server) UnmarshalJSON(b []byte) error {
	o, err := decodeObject(b)
	if err != nil {
		return err
	}
	group, err := o.str("server_group")
	if err != nil {
		return err
	}
	host, err := o.str("host")
	if err != nil {
		return err
	}
	srv, err := parseRecordObject(group+"/"+host, o, ParseOptions{})
	if err != nil {
		return err
	}
	srv.Imported = false
	if srv.Stale, err = o.boolean("stale"); err != nil {
		return err
	}
	if srv.Desired.CommitSHA, err = o.str("desired_commit_sha"); err != nil {
		return err
	}
	if srv.Desired.Behind, err = o.boolean("behind"); err != nil {
		return err
	}
	if srv.Desired.BehindSince, err = o.time("behind_since"); err != nil {
		return err
	}
	*s = srv
	return nil
}

func parseRecordObject(key string, o object, p ParseOptions) (Server, error) {
	var s Server
	var err error
	keyGroup, keyHost, _ := strings.Cut(key, "/")
	for _, f := range []struct {
		name string
		dst  *string
	}{
		{"server_group", &s.ServerGroup}, {"host", &s.Host},
		{"project_name", &s.ProjectName}, {"repo_name", &s.RepoName}, {"server_type", &s.ServerType},
		{"environment", &s.Environment}, {"validation_message", &s.ValidationMessage},
		{"commit_sha", &s.CommitSHA}, {"branch", &s.Branch}, {"updated_by", &s.UpdatedBy},
	} {
		if *f.dst, err = o.str(f.name); err != nil {
			return s, err
		}
	}
	if s.ServerGroup == "" {
		s.ServerGroup = keyGroup
	}
	if s.Host == "" {
		s.Host = keyHost
	}
	if err := ValidateIdentifier("server_group", s.ServerGroup); err != nil {
		return s, err
	}
	if err := ValidateIdentifier("host", s.Host); err != nil {
		return s, err
	}
	// v2.0 wrote the key as "server_group/host". A record whose fields name
	// another server is skipped: taking either side would silently move it,
	// and two such records could name one server twice in a single import.
	if s.Key().String() != key {
		return s, Errorf(EINVALID, "its server_group %q and host %q do not match its key", s.ServerGroup, s.Host)
	}
	st, err := o.str("status")
	if err != nil {
		return s, err
	}
	if st == "" {
		st = string(StatusUnknown)
	}
	if s.Status, err = ParseStatus("status", st); err != nil {
		return s, err
	}
	s.ValidationStatus = ValidationUnknown
	if vs, err := o.str("validation_status"); err != nil {
		return s, err
	} else if vs != "" {
		if s.ValidationStatus, err = ParseValidationStatus("validation_status", vs); err != nil {
			return s, err
		}
	}
	for _, f := range []struct {
		name string
		dst  *Status
	}{{"pipeline_status", &s.PipelineStatus}, {"drift_status", &s.DriftStatus}} {
		v, err := o.str(f.name)
		if err != nil {
			return s, err
		}
		if v != "" {
			if *f.dst, err = ParseStatus(f.name, v); err != nil {
				return s, err
			}
		}
	}
	if s.ChangedFiles, err = o.strList("changed_files"); err != nil {
		return s, err
	}
	if s.Labels, err = o.strMap("labels"); err != nil {
		return s, err
	}
	sa, err := o.str("stale_after")
	if err != nil {
		return s, err
	}
	if s.StaleAfter, err = parseStaleAfter("stale_after", sa); err != nil {
		return s, err
	}
	for _, f := range []struct {
		name string
		dst  *time.Time
	}{
		{"last_pipeline_run", &s.LastPipelineRun}, {"last_cron_check", &s.LastCronCheck},
		{"timestamp", &s.Timestamp}, {"status_since", &s.StatusSince},
		{"pipeline_reported_at", &s.PipelineReportedAt}, {"cron_reported_at", &s.CronReportedAt},
	} {
		if *f.dst, err = o.time(f.name); err != nil {
			return s, err
		}
	}
	src, err := o.str("last_source")
	if err != nil {
		return s, err
	}
	switch Source(asciiLower(src)) {
	case SourcePipeline, SourceCron, SourceLegacy:
		s.LastSource = Source(asciiLower(src))
	case "":
		// v2.0 files lack it: the kind whose time is newer wrote last.
		switch {
		case !s.LastCronCheck.IsZero() && s.LastCronCheck.After(s.LastPipelineRun):
			s.LastSource = SourceCron
			if s.DriftStatus == "" {
				s.DriftStatus = s.Status
			}
		case !s.LastPipelineRun.IsZero():
			s.LastSource = SourcePipeline
			if s.PipelineStatus == "" {
				s.PipelineStatus = s.Status
			}
		}
	default:
		return s, FieldErrorf("last_source", "last_source %q is not one of \"pipeline\", \"cron\", \"legacy\"", src)
	}
	if s.Timestamp.IsZero() {
		s.Timestamp = s.LastReport()
	}
	if s.Timestamp.IsZero() {
		s.Timestamp = Now(p.Now)
	}
	if s.StatusSince.IsZero() {
		s.StatusSince = s.Timestamp
	}
	s.Imported = true
	return s, nil
}

// exportDocument is the v2 document's JSON shape.
type exportDocument struct {
	Version string         `json:"version"`
	Servers map[string]any `json:"servers"`
	Desired []Head         `json:"desired"`
}

// ExportDocument returns the v2 document holding servers and heads, the
// format v2.0 itself loads (it ignores "desired"). Keys are
// "server_group/host".
func ExportDocument(servers []Server, heads []Head) []byte {
	if heads == nil {
		heads = []Head{}
	}
	doc := exportDocument{Version: "2.0", Servers: make(map[string]any, len(servers)), Desired: heads}
	for i := range servers {
		doc.Servers[servers[i].Key().String()] = servers[i].ExportRecord()
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		panic(err) // every field is a plain string, list, map or time
	}
	return append(b, '\n')
}
