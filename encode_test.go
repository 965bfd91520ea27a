package gitops_test

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	gitops "github.com/gitops-status/gitops-status"
)

// reflectJSON is the record as encoding/json writes it through reflection:
// the reference the hand-written encoder must match byte for byte.
func reflectJSON(t testing.TB, s gitops.Server) []byte {
	b, err := json.Marshal(s.ExportRecord())
	if err != nil {
		t.Fatal(err)
	}
	tail, err := json.Marshal(struct {
		Stale       bool        `json:"stale"`
		N           int         `json:"changed_files_count"`
		Desired     string      `json:"desired_commit_sha"`
		Behind      bool        `json:"behind"`
		BehindSince gitops.Time `json:"behind_since"`
	}{s.Stale, len(s.ChangedFiles), s.Desired.CommitSHA, s.Desired.Behind, gitops.Time{Time: s.Desired.BehindSince}})
	if err != nil {
		t.Fatal(err)
	}
	return append(append(bytes.TrimSuffix(b, []byte("}")), ','), tail[1:]...)
}

func TestAppendJSONMatchesEncodingJSON(t *testing.T) {
	at := time.Date(2026, 4, 26, 10, 30, 0, 123456000, time.UTC)
	tests := []struct {
		name string
		in   gitops.Server
	}{
		{"empty", gitops.Server{}},
		{"seed record", gitops.Server{ProjectName: "gitops-for-servers", RepoName: "rsyslog", ServerGroup: "rsyslog-prod",
			ServerType: "rsyslog", Environment: "prod", Host: "rsyslog-01", Status: gitops.StatusOutOfSync,
			ChangedFiles: []string{"/etc/rsyslog.conf", "/etc/rsyslog.d/50-default.conf"}, ValidationStatus: gitops.ValidationPassed,
			ValidationMessage: "ok", CommitSHA: "abc1234", Branch: "master", UpdatedBy: "woodpecker",
			LastPipelineRun: at, LastCronCheck: at.Add(time.Hour), Timestamp: at.Add(time.Hour), StatusSince: at,
			LastSource: gitops.SourceCron, PipelineStatus: gitops.StatusSynced, DriftStatus: gitops.StatusOutOfSync,
			Labels: map[string]string{"dc": "dc1", "owner": "ops", "a": "z"}, StaleAfter: "30m", PipelineReportedAt: at, Stale: true,
			Desired: gitops.Desired{CommitSHA: "def5678", Behind: true, BehindSince: at}}},
		{"escapes", gitops.Server{ValidationMessage: "line1\nline2\t\"quoted\" \\ <b>&amp; \x01 \u2028 \u2029 é 日本 \xff",
			ChangedFiles: []string{"a\"b", "<script>"}, Labels: map[string]string{"k\n": "v\x00"}}},
		{"non-UTC times", gitops.Server{Timestamp: time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("x", 3*3600))}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.in.AppendJSON(nil)
			want := reflectJSON(t, tt.in)
			if !sameJSON(got, want) {
				t.Fatalf("AppendJSON:\n got %s\nwant %s", got, want)
			}
			if !json.Valid(got) {
				t.Fatalf("invalid JSON %s", got)
			}
		})
	}
}

func FuzzAppendJSONString(f *testing.F) {
	f.Add("plain", "a\nb<>&\u2028\xff")
	f.Fuzz(func(t *testing.T, msg, label string) {
		s := gitops.Server{ValidationMessage: msg, ChangedFiles: []string{label}, Labels: map[string]string{label: msg}}
		got := s.AppendJSON(nil)
		if want := reflectJSON(t, s); !sameJSON(got, want) {
			t.Fatalf("AppendJSON:\n got %s\nwant %s", got, want)
		}
	})
}

// TestAppendJSONStringsAndLabels checks the column encoders both stores use
// against encoding/json, and that nil encodes as empty, as records keep it.
func TestAppendJSONStringsAndLabels(t *testing.T) {
	for _, l := range [][]string{{}, {""}, {"a", "b<>&"}, {"\xff", "x\"y", "\u2028"}} {
		want, _ := json.Marshal(l)
		if got := gitops.AppendJSONStrings(nil, l); !sameJSON(got, want) {
			t.Errorf("AppendJSONStrings(%q) = %s, want %s", l, got, want)
		}
	}
	for _, m := range []map[string]string{{}, {"": ""}, {"b": "1", "a": "2", "é": "<"}, {"k\"": "v\n", "\xff": "z"}} {
		want, _ := json.Marshal(m)
		if got := gitops.AppendJSONLabels(nil, m); !sameJSON(got, want) {
			t.Errorf("AppendJSONLabels(%q) = %s, want %s", m, got, want)
		}
	}
	if got := string(gitops.AppendJSONStrings(nil, nil)) + string(gitops.AppendJSONLabels(nil, nil)); got != "[]{}" {
		t.Errorf("nil list and labels = %s, want []{}", got)
	}
}

// TestAppendJSONHeadAllocatesOnce: a record as pipelines write it is
// encoded into one allocation, as every write encodes one.
func TestAppendJSONHeadAllocatesOnce(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	now := time.Date(2026, 12, 6, 7, 35, 8, 123456000, time.UTC)
	s := gitops.Server{
		ServerGroup: "rsyslog-prod", Host: "rsyslog-01.dc1.example.com", ProjectName: "infra", RepoName: "rsyslog-config",
		ServerType: "rsyslog", Environment: "prod", Status: gitops.StatusSynced,
		ChangedFiles:     []string{"rsyslog.conf", "rsyslog.d/50-remote.conf", "rsyslog.d/10-local.conf"},
		ValidationStatus: gitops.ValidationPassed, CommitSHA: "0123456789abcdef0123456789abcdef01234567",
		Branch: "main", UpdatedBy: "woodpecker", LastPipelineRun: now, LastCronCheck: now, Timestamp: now,
		StatusSince: now, LastSource: gitops.SourcePipeline, PipelineStatus: gitops.StatusSynced,
		DriftStatus: gitops.StatusSynced, StaleAfter: "30m", PipelineReportedAt: now, CronReportedAt: now,
		Labels: map[string]string{"datacenter": "dc1", "team": "platform"},
	}
	if n := testing.AllocsPerRun(100, func() { s.AppendJSONHead(nil) }); n != 1 {
		t.Errorf("AppendJSONHead allocated %v times, want 1", n)
	}
}

// sameJSON compares our encoding with encoding/json's byte for byte, except
// for how invalid UTF-8 is written: both replace it with U+FFFD, which Go
// 1.26's encoding/json escapes as \ufffd and Go 1.27's writes as the
// character itself. Both are the same JSON; the tests run on either Go.
func sameJSON(got, want []byte) bool {
	norm := func(b []byte) []byte { return bytes.ReplaceAll(b, []byte(`\ufffd`), []byte("\uFFFD")) }
	return bytes.Equal(norm(got), norm(want))
}

// TestHeadSizeHintIsExact: the hint AppendJSONHead allocates by is the
// head's length whenever no string needs escaping, so that a head is
// allocated in the smallest size that holds it (the index keeps one a
// server). Times with and without fractions, trailing zeros, empty and
// zero fields, changed files and labels each change the length.
func TestHeadSizeHintIsExact(t *testing.T) {
	at := func(ns int) time.Time { return time.Date(2026, 12, 6, 7, 35, 8, ns, time.UTC) }
	full := gitops.Server{
		ServerGroup: "rsyslog-prod", Host: "rsyslog-01.dc1.example.com", ProjectName: "infra", RepoName: "rsyslog-config",
		ServerType: "rsyslog", Environment: "prod", Status: gitops.StatusSynced,
		ChangedFiles:     []string{"rsyslog.conf", "rsyslog.d/50-remote.conf", "rsyslog.d/10-local.conf"},
		ValidationStatus: gitops.ValidationPassed, ValidationMessage: "ok", CommitSHA: "0123456789abcdef0123456789abcdef01234567",
		Branch: "main", UpdatedBy: "woodpecker", LastPipelineRun: at(123456000), LastCronCheck: at(0), Timestamp: at(100000000),
		StatusSince: at(1), LastSource: gitops.SourcePipeline, PipelineStatus: gitops.StatusSynced,
		DriftStatus: gitops.StatusSynced, StaleAfter: "30m", PipelineReportedAt: at(999999999), CronReportedAt: at(120000),
		Labels: map[string]string{"datacenter": "dc1", "team": "platform", "": ""},
	}
	oneFile, oneLabel := full, full
	oneFile.ChangedFiles = []string{"a"}
	oneLabel.Labels = map[string]string{"k": "v"}
	inOtherZone := full
	inOtherZone.LastCronCheck = time.Date(2026, 12, 6, 9, 35, 8, 5000, time.FixedZone("CET", 3600))
	for name, s := range map[string]gitops.Server{
		"zero":                {},
		"full":                full,
		"one file, one label": func() gitops.Server { s := oneFile; s.Labels = oneLabel.Labels; return s }(),
		"a time not in UTC":   inOtherZone,
		"no files, no labels": {ServerGroup: "g", Host: "h", LastCronCheck: at(10)},
	} {
		head := s.AppendJSONHead(nil)
		if hint := gitops.HeadSizeHint(&s); hint != len(head) {
			t.Errorf("%s: hint %d, head %d bytes: %s", name, hint, len(head), head)
		}
	}
}
