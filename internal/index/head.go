package index

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"reflect"
	"time"
	"unsafe"

	gitops "github.com/gitops-status/gitops-status"
)

// A head is a record encoded by (*gitops.Server).AppendJSONHead: every
// stored field of the JSON record, the object left open for the computed
// tail. Both stores keep one per server, in the servers.head column and in
// the index, and read the current record of an update back from it
// (DecodeHead) instead of selecting and scanning the row's 26 columns.

// ErrHead is a head DecodeHead cannot read back; callers fall back to the
// row's columns.
var ErrHead = errors.New("unreadable record head")

// headKeys are the keys a head carries, each exactly once.
var headKeys = []string{
	"project_name", "repo_name", "server_group", "server_type", "environment", "host", "status",
	"changed_files", "validation_status", "validation_message", "commit_sha", "branch", "updated_by",
	"last_pipeline_run", "last_cron_check", "timestamp", "status_since", "last_source",
	"pipeline_status", "drift_status", "labels", "stale_after", "pipeline_reported_at", "cron_reported_at",
}

// DecodeHead reads a head back into the record it was encoded from (every
// field but Stale, LegacyWrittenAt and Imported, which the head does not
// carry). It accepts the keys in any order but each of headKeys exactly
// once, so a head written by a different encoder fails rather than
// decoding to a partial record. Strings without escapes share head's
// memory, so head must not change while the record is in use: every head
// an entry holds is immutable. (A copy of the head was the largest single
// allocation of a write at 400,000 servers, ~900 bytes.)
func DecodeHead(head []byte) (gitops.Server, error) {
	return DecodeHeadString(unsafe.String(unsafe.SliceData(head), len(head)))
}

// DecodeHeadString is DecodeHead of a head held as a string, for a caller
// that reads it as one: its strings without escapes share head's memory
// instead of a copy.
func DecodeHeadString(head string) (gitops.Server, error) {
	var s gitops.Server
	d := headDecoder{in: head}
	if !d.eat('{') {
		return s, ErrHead
	}
	var seen uint32
	for i := 0; ; i++ {
		if i > 0 && !d.eat(',') {
			break
		}
		key, ok := d.str()
		if !ok || !d.eat(':') {
			return s, ErrHead
		}
		bit, ok := headKeyBit(key)
		if !ok || seen&bit != 0 {
			return s, ErrHead
		}
		seen |= bit
		switch key {
		case "project_name":
			s.ProjectName, ok = d.str()
		case "repo_name":
			s.RepoName, ok = d.str()
		case "server_group":
			s.ServerGroup, ok = d.str()
		case "server_type":
			s.ServerType, ok = d.str()
		case "environment":
			s.Environment, ok = d.str()
		case "host":
			s.Host, ok = d.str()
		case "status":
			s.Status, ok = strAs[gitops.Status](&d)
		case "changed_files":
			s.ChangedFiles, ok = d.strList()
		case "validation_status":
			s.ValidationStatus, ok = strAs[gitops.ValidationStatus](&d)
		case "validation_message":
			s.ValidationMessage, ok = d.str()
		case "commit_sha":
			s.CommitSHA, ok = d.str()
		case "branch":
			s.Branch, ok = d.str()
		case "updated_by":
			s.UpdatedBy, ok = d.str()
		case "last_pipeline_run":
			s.LastPipelineRun, ok = d.time()
		case "last_cron_check":
			s.LastCronCheck, ok = d.time()
		case "timestamp":
			s.Timestamp, ok = d.time()
		case "status_since":
			s.StatusSince, ok = d.time()
		case "last_source":
			s.LastSource, ok = strAs[gitops.Source](&d)
		case "pipeline_status":
			s.PipelineStatus, ok = strAs[gitops.Status](&d)
		case "drift_status":
			s.DriftStatus, ok = strAs[gitops.Status](&d)
		case "labels":
			s.Labels, ok = d.strMap()
		case "stale_after":
			s.StaleAfter, ok = d.str()
		case "pipeline_reported_at":
			s.PipelineReportedAt, ok = d.time()
		case "cron_reported_at":
			s.CronReportedAt, ok = d.time()
		}
		if !ok {
			return s, ErrHead
		}
	}
	if d.pos != len(d.in) || seen != 1<<len(headKeys)-1 {
		return s, ErrHead
	}
	return s, nil
}

func headKeyBit(key string) (uint32, bool) {
	for i, k := range headKeys {
		if k == key {
			return 1 << i, true
		}
	}
	return 0, false
}

// HeadSample is a record with every field set, and with the characters
// encoders disagree about, for HeadFormat, HeadRoundTrips and tests.
func HeadSample() gitops.Server {
	t := time.Date(2026, 4, 26, 10, 30, 0, 123456000, time.UTC)
	return gitops.Server{
		ServerGroup: "rsyslog-prod", Host: "rsyslog-01", ProjectName: "infra <&> \"q\" \\",
		RepoName: "r\u2028\u2029", ServerType: "rsyslog", Environment: "prod\t\n\r\b\f\x01\x7f",
		Status: gitops.StatusOutOfSync, ChangedFiles: []string{"a.conf", "ünï/çødé", `","`, ""},
		ValidationStatus: gitops.ValidationFailed, ValidationMessage: "line 3: \"x\" 😀",
		CommitSHA: "0123456789abcdef0123456789abcdef01234567", Branch: "main", UpdatedBy: "woodpecker",
		LastPipelineRun: t, LastCronCheck: t.Add(time.Second), Timestamp: t.Add(2 * time.Second),
		StatusSince: t.Add(-time.Hour), LastSource: gitops.SourceCron,
		Labels:         map[string]string{"dc": "dc1", `k"`: `v":"w`, "": ""},
		PipelineStatus: gitops.StatusSynced, DriftStatus: gitops.StatusOutOfSync, StaleAfter: "30m",
		PipelineReportedAt: t.Add(-time.Minute), CronReportedAt: time.Date(1, 1, 1, 0, 0, 0, 1000, time.UTC),
	}
}

// HeadFormat names the encoding AppendJSONHead writes, as the hash of the
// sample's head. The store records it next to the stored heads: a binary
// whose encoder writes something else re-encodes every head at Open.
func HeadFormat() string {
	s := HeadSample()
	sum := sha256.Sum256(s.AppendJSONHead(nil))
	return hex.EncodeToString(sum[:16])
}

// HeadRoundTrips reports whether DecodeHead reads back what this build's
// AppendJSONHead writes. When it does not (the domain's encoder changed in
// a way DecodeHead does not follow), the writer reads records with SQL.
func HeadRoundTrips() bool {
	want := HeadSample()
	got, err := DecodeHead(want.AppendJSONHead(nil))
	return err == nil && reflect.DeepEqual(got, want)
}

// EntryFromHead builds the entry of a stored head, reading only the fields
// an entry keeps and skipping the others without allocating. The entry
// holds a copy of head.
func EntryFromHead(in *Interner, head []byte, imported bool, legacyWrittenAt time.Time) (*Entry, error) {
	if len(head) == 0 {
		return nil, ErrHead
	}
	d := headDecoder{in: unsafe.String(unsafe.SliceData(head), len(head))}
	if !d.eat('{') {
		return nil, ErrHead
	}
	sv := gitops.Server{Imported: imported, LegacyWrittenAt: legacyWrittenAt}
	files := 0
	const need = 1<<15 - 1
	var seen uint32
	for i := 0; ; i++ {
		if i > 0 && !d.eat(',') {
			break
		}
		key, ok := d.str()
		if !ok || !d.eat(':') {
			return nil, ErrHead
		}
		var bit uint32
		switch key {
		case "server_group":
			bit = 1 << 0
			sv.ServerGroup, ok = d.str()
		case "host":
			bit = 1 << 1
			sv.Host, ok = d.str()
		case "server_type":
			bit = 1 << 2
			sv.ServerType, ok = d.str()
		case "environment":
			bit = 1 << 3
			sv.Environment, ok = d.str()
		case "status":
			bit = 1 << 4
			sv.Status, ok = strAs[gitops.Status](&d)
		case "validation_status":
			bit = 1 << 5
			sv.ValidationStatus, ok = strAs[gitops.ValidationStatus](&d)
		case "last_pipeline_run":
			bit = 1 << 6
			sv.LastPipelineRun, ok = d.time()
		case "last_cron_check":
			bit = 1 << 7
			sv.LastCronCheck, ok = d.time()
		case "stale_after":
			bit = 1 << 8
			sv.StaleAfter, ok = d.str()
		case "changed_files":
			bit = 1 << 9
			files, ok = d.countList()
		case "status_since":
			bit = 1 << 10
			sv.StatusSince, ok = d.time()
		case "repo_name":
			bit = 1 << 11
			sv.RepoName, ok = d.str()
		case "branch":
			bit = 1 << 12
			sv.Branch, ok = d.str()
		case "commit_sha":
			bit = 1 << 13
			sv.CommitSHA, ok = d.str()
		case "timestamp":
			bit = 1 << 14
			sv.Timestamp, ok = d.time()
		default:
			ok = d.skip()
		}
		if !ok || seen&bit != 0 {
			return nil, ErrHead
		}
		seen |= bit
	}
	if d.pos != len(d.in) || seen != need {
		return nil, ErrHead
	}
	e := in.NewEntry(&sv, head)
	e.ChangedFiles = files
	return e, nil
}
