package gitops_test

import (
	"reflect"
	"strings"
	"testing"
	"time"

	gitops "github.com/gitops-status/gitops-status"
)

// opts is what the HTTP server passes: its clock and the default skew.
var opts = gitops.ParseOptions{Now: t0, MaxClockSkew: 5 * time.Minute}

// The seed's curl examples, verbatim.
const (
	seedPipelineBody = `{
    "project_name": "gitops-for-servers",
    "repo_name": "rsyslog",
    "server_group": "rsyslog-prod",
    "server_type": "rsyslog",
    "environment": "prod",
    "host": "rsyslog-01",
    "status": "synced",
    "validation_status": "passed",
    "validation_message": "rsyslog syntax validation passed",
    "commit_sha": "abc1234",
    "branch": "master",
    "updated_by": "woodpecker"
  }`
	seedCronBody = `{
    "server_group": "rsyslog-prod",
    "host": "rsyslog-01",
    "status": "out_of_sync",
    "changed_files": ["/etc/rsyslog.conf", "/etc/rsyslog.d/50-default.conf"]
  }`
	seedV1Body = `{
  "repo": "rsyslog",
  "server": "rsyslog-lab",
  "sync_status": "SYNCED",
  "drift_count": 0,
  "deployed_files": [],
  "drifted_files": [],
  "last_check": "2026-04-26T00:00:00Z"
}`
)

// bodyErrorCases are bodies every decoder refuses before looking at fields.
var bodyErrorCases = []struct {
	name string
	body string
}{
	{"empty", ``},
	{"whitespace only", " \n\t "},
	{"array", `[{"server_group": "g", "host": "h", "status": "synced"}]`},
	{"string", `"synced"`},
	{"number", `42`},
	{"null", `null`},
	{"true", `true`},
	{"truncated", `{"server_group": "g", "host": "h", "status": "synced"`},
	{"trailing object", `{"server_group": "g", "host": "h", "status": "synced"}{"x": 1}`},
	{"trailing garbage", `{"server_group": "g", "host": "h", "status": "synced"} x`},
	{"trailing comma", `{"server_group": "g", "host": "h", "status": "synced",}`},
	{"single quotes", `{'server_group': 'g'}`},
	{"not json", `server_group=g&host=h`},
}

func TestParseUpdates_bodyErrors(t *testing.T) {
	parsers := map[string]func([]byte) error{
		"pipeline": func(b []byte) error { _, _, err := gitops.ParsePipelineUpdate(b, opts); return err },
		"cron":     func(b []byte) error { _, _, err := gitops.ParseCronUpdate(b, opts); return err },
		"legacy":   func(b []byte) error { _, _, err := gitops.ParseLegacyUpdate(b, opts); return err },
	}
	for kind, parse := range parsers {
		for _, tt := range bodyErrorCases {
			t.Run(kind+"/"+tt.name, func(t *testing.T) {
				wantInvalid(t, parse([]byte(tt.body)), "")
			})
		}
	}
}

func TestParseUpdates_trailingWhitespaceAccepted(t *testing.T) {
	body := " \n" + `{"server_group": "g", "host": "h", "status": "synced"}` + "\r\n\t "
	if _, _, err := gitops.ParsePipelineUpdate([]byte(body), opts); err != nil {
		t.Fatal(err)
	}
	if _, _, err := gitops.ParseCronUpdate([]byte(body), opts); err != nil {
		t.Fatal(err)
	}
}

func TestParsePipelineUpdate(t *testing.T) {
	tests := []struct {
		name     string
		body     string
		opts     gitops.ParseOptions
		want     gitops.PipelineUpdate
		warnings []string // substrings, one per warning, in order
	}{
		{
			name: "seed example",
			body: seedPipelineBody,
			want: gitops.PipelineUpdate{
				Source: gitops.SourcePipeline, ServerGroup: "rsyslog-prod", Host: "rsyslog-01",
				ProjectName: "gitops-for-servers", RepoName: "rsyslog", ServerType: "rsyslog", Environment: "prod",
				Status: gitops.StatusSynced, ChangedFiles: []string{}, Labels: map[string]string{},
				ValidationStatus: gitops.ValidationPassed, ValidationMessage: "rsyslog syntax validation passed",
				CommitSHA: "abc1234", Branch: "master", UpdatedBy: "woodpecker",
			},
		},
		{
			name: "minimal: defaults",
			body: `{"server_group": "g", "host": "h", "status": "failed"}`,
			want: gitops.PipelineUpdate{
				Source: gitops.SourcePipeline, ServerGroup: "g", Host: "h", Status: gitops.StatusFailed,
				ChangedFiles: []string{}, Labels: map[string]string{}, ValidationStatus: gitops.ValidationUnknown,
			},
		},
		{
			name: "nulls read as absent",
			body: `{"server_group": "g", "host": "h", "status": "synced", "changed_files": null, "labels": null,
				"validation_status": null, "commit_sha": null, "stale_after": null, "reported_at": null}`,
			want: gitops.PipelineUpdate{
				Source: gitops.SourcePipeline, ServerGroup: "g", Host: "h", Status: gitops.StatusSynced,
				ChangedFiles: []string{}, Labels: map[string]string{}, ValidationStatus: gitops.ValidationUnknown,
			},
		},
		{
			name: "enums in any case stored lower-case",
			body: `{"server_group": "g", "host": "h", "status": "OUT_OF_SYNC", "validation_status": "Skipped"}`,
			want: gitops.PipelineUpdate{
				Source: gitops.SourcePipeline, ServerGroup: "g", Host: "h", Status: gitops.StatusOutOfSync,
				ChangedFiles: []string{}, Labels: map[string]string{}, ValidationStatus: gitops.ValidationSkipped,
			},
		},
		{
			name: "identifiers keep their case",
			body: `{"server_group": "RSyslog-Prod", "host": "Host-01", "status": "synced"}`,
			want: gitops.PipelineUpdate{
				Source: gitops.SourcePipeline, ServerGroup: "RSyslog-Prod", Host: "Host-01", Status: gitops.StatusSynced,
				ChangedFiles: []string{}, Labels: map[string]string{}, ValidationStatus: gitops.ValidationUnknown,
			},
		},
		{
			name: "files, labels, stale_after, reported_at",
			body: `{"server_group": "g", "host": "h", "status": "synced", "changed_files": ["/b", "/a"],
				"labels": {"datacenter": "dc1", "owner": "ops"}, "stale_after": "30m",
				"reported_at": "2026-04-26T14:55:00.1234567+03:00"}`,
			want: gitops.PipelineUpdate{
				Source: gitops.SourcePipeline, ServerGroup: "g", Host: "h", Status: gitops.StatusSynced,
				ChangedFiles: []string{"/b", "/a"}, Labels: map[string]string{"datacenter": "dc1", "owner": "ops"},
				ValidationStatus: gitops.ValidationUnknown, StaleAfter: "30m",
				ReportedAt: mustTime(t, "2026-04-26T11:55:00.123456Z"),
			},
		},
		{
			name: "stale_after 0s",
			body: `{"server_group": "g", "host": "h", "status": "synced", "stale_after": "0s"}`,
			want: gitops.PipelineUpdate{
				Source: gitops.SourcePipeline, ServerGroup: "g", Host: "h", Status: gitops.StatusSynced,
				ChangedFiles: []string{}, Labels: map[string]string{}, ValidationStatus: gitops.ValidationUnknown,
				StaleAfter: "0s",
			},
		},
		{
			name: "last_pipeline_run read as reported_at",
			body: `{"server_group": "g", "host": "h", "status": "synced", "last_pipeline_run": "2026-04-26T11:00:00+00:00"}`,
			want: gitops.PipelineUpdate{
				Source: gitops.SourcePipeline, ServerGroup: "g", Host: "h", Status: gitops.StatusSynced,
				ChangedFiles: []string{}, Labels: map[string]string{}, ValidationStatus: gitops.ValidationUnknown,
				ReportedAt: mustTime(t, "2026-04-26T11:00:00Z"),
			},
		},
		{
			name: "reported_at wins over last_pipeline_run",
			body: `{"server_group": "g", "host": "h", "status": "synced", "reported_at": "2026-04-26T11:30:00Z",
				"last_pipeline_run": "2026-04-26T11:00:00Z"}`,
			want: gitops.PipelineUpdate{
				Source: gitops.SourcePipeline, ServerGroup: "g", Host: "h", Status: gitops.StatusSynced,
				ChangedFiles: []string{}, Labels: map[string]string{}, ValidationStatus: gitops.ValidationUnknown,
				ReportedAt: mustTime(t, "2026-04-26T11:30:00Z"),
			},
		},
		{
			name: "reported_at within the skew",
			body: `{"server_group": "g", "host": "h", "status": "synced", "reported_at": "2026-04-26T12:05:00Z"}`,
			want: gitops.PipelineUpdate{
				Source: gitops.SourcePipeline, ServerGroup: "g", Host: "h", Status: gitops.StatusSynced,
				ChangedFiles: []string{}, Labels: map[string]string{}, ValidationStatus: gitops.ValidationUnknown,
				ReportedAt: mustTime(t, "2026-04-26T12:05:00Z"),
			},
		},
		{
			name: "unknown and server-owned fields warned, sorted",
			body: `{"server_group": "g", "host": "h", "status": "synced", "zeta": 1, "alpha": "x",
				"timestamp": "2026-04-26T10:00:00Z", "stale": true, "changed_files_count": 3, "last_cron_check": null,
				"drift_status": "synced", "pipeline_status": "synced", "status_since": null, "last_source": "cron",
				"pipeline_reported_at": null, "cron_reported_at": null}`,
			want: gitops.PipelineUpdate{
				Source: gitops.SourcePipeline, ServerGroup: "g", Host: "h", Status: gitops.StatusSynced,
				ChangedFiles: []string{}, Labels: map[string]string{}, ValidationStatus: gitops.ValidationUnknown,
			},
			warnings: []string{
				`unknown field "alpha"`,
				`"changed_files_count" is set by the server`,
				`"cron_reported_at" is set by the server`,
				`"drift_status" is set by the server`,
				`"last_cron_check" is set by the server`,
				`"last_source" is set by the server`,
				`"pipeline_reported_at" is set by the server`,
				`"pipeline_status" is set by the server`,
				`"stale" is set by the server`,
				`"status_since" is set by the server`,
				`"timestamp" is set by the server`,
				`unknown field "zeta"`,
			},
		},
		{
			name: "field names are case-sensitive",
			body: `{"server_group": "g", "host": "h", "status": "synced", "Commit_SHA": "abc"}`,
			want: gitops.PipelineUpdate{
				Source: gitops.SourcePipeline, ServerGroup: "g", Host: "h", Status: gitops.StatusSynced,
				ChangedFiles: []string{}, Labels: map[string]string{}, ValidationStatus: gitops.ValidationUnknown,
			},
			warnings: []string{`unknown field "Commit_SHA"`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := opts
			if !tt.opts.Now.IsZero() {
				o = tt.opts
			}
			got, warnings, err := gitops.ParsePipelineUpdate([]byte(tt.body), o)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(*got, tt.want) {
				t.Fatalf("update =\n%+v\nwant\n%+v", *got, tt.want)
			}
			assertWarnings(t, warnings, tt.warnings)
		})
	}
}

// assertWarnings checks there is one warning per want, each containing it.
func assertWarnings(tb testing.TB, got, want []string) {
	tb.Helper()
	if len(got) != len(want) {
		tb.Fatalf("warnings = %q, want %d matching %q", got, len(want), want)
	}
	for i := range want {
		if !strings.Contains(got[i], want[i]) {
			tb.Fatalf("warning %d = %q, want it to contain %q", i, got[i], want[i])
		}
	}
}

func TestParsePipelineUpdate_errors(t *testing.T) {
	tests := []struct {
		name  string
		body  string
		field string
	}{
		{"server_group missing", `{"host": "h", "status": "synced"}`, "server_group"},
		{"server_group empty", `{"server_group": "", "host": "h", "status": "synced"}`, "server_group"},
		{"server_group null", `{"server_group": null, "host": "h", "status": "synced"}`, "server_group"},
		{"server_group number", `{"server_group": 1, "host": "h", "status": "synced"}`, "server_group"},
		{"server_group with slash", `{"server_group": "a/b", "host": "h", "status": "synced"}`, "server_group"},
		{"server_group with space", `{"server_group": "bad group", "host": "h", "status": "synced"}`, "server_group"},
		{"server_group ..", `{"server_group": "..", "host": "h", "status": "synced"}`, "server_group"},
		{"host missing", `{"server_group": "g", "status": "synced"}`, "host"},
		{"host list", `{"server_group": "g", "host": ["h"], "status": "synced"}`, "host"},
		{"host too long", `{"server_group": "g", "host": "` + strings.Repeat("h", 254) + `", "status": "synced"}`, "host"},
		{"host control char", `{"server_group": "g", "host": "h\u0007", "status": "synced"}`, "host"},
		{"status missing", `{"server_group": "g", "host": "h"}`, "status"},
		{"status empty", `{"server_group": "g", "host": "h", "status": ""}`, "status"},
		{"status unknown value", `{"server_group": "g", "host": "h", "status": "drifted"}`, "status"},
		{"status bool", `{"server_group": "g", "host": "h", "status": true}`, "status"},
		{"validation_status bad", `{"server_group": "g", "host": "h", "status": "synced", "validation_status": "ok"}`, "validation_status"},
		{"validation_status number", `{"server_group": "g", "host": "h", "status": "synced", "validation_status": 1}`, "validation_status"},
		{"project_name number", `{"server_group": "g", "host": "h", "status": "synced", "project_name": 1}`, "project_name"},
		{"repo_name object", `{"server_group": "g", "host": "h", "status": "synced", "repo_name": {}}`, "repo_name"},
		{"server_type bool", `{"server_group": "g", "host": "h", "status": "synced", "server_type": false}`, "server_type"},
		{"environment list", `{"server_group": "g", "host": "h", "status": "synced", "environment": []}`, "environment"},
		{"validation_message number", `{"server_group": "g", "host": "h", "status": "synced", "validation_message": 0}`, "validation_message"},
		{"commit_sha number", `{"server_group": "g", "host": "h", "status": "synced", "commit_sha": 1234567}`, "commit_sha"},
		{"branch bool", `{"server_group": "g", "host": "h", "status": "synced", "branch": true}`, "branch"},
		{"updated_by list", `{"server_group": "g", "host": "h", "status": "synced", "updated_by": ["x"]}`, "updated_by"},
		{"changed_files string", `{"server_group": "g", "host": "h", "status": "synced", "changed_files": "/etc/a"}`, "changed_files"},
		{"changed_files numbers", `{"server_group": "g", "host": "h", "status": "synced", "changed_files": [1, 2]}`, "changed_files"},
		{"changed_files null entry", `{"server_group": "g", "host": "h", "status": "synced", "changed_files": ["/a", null]}`, "changed_files"},
		{"labels list", `{"server_group": "g", "host": "h", "status": "synced", "labels": ["dc1"]}`, "labels"},
		{"labels number value", `{"server_group": "g", "host": "h", "status": "synced", "labels": {"dc": 1}}`, "labels"},
		{"labels null value", `{"server_group": "g", "host": "h", "status": "synced", "labels": {"dc": null}}`, "labels"},
		{"NUL in a string", `{"server_group": "g", "host": "h", "status": "synced", "commit_sha": "a\u0000b"}`, "commit_sha"},
		{"NUL in a file name", `{"server_group": "g", "host": "h", "status": "synced", "changed_files": ["/a\u0000"]}`, "changed_files"},
		{"NUL in a label key", `{"server_group": "g", "host": "h", "status": "synced", "labels": {"d\u0000c": "x"}}`, "labels"},
		{"NUL in a label value", `{"server_group": "g", "host": "h", "status": "synced", "labels": {"dc": "x\u0000"}}`, "labels"},
		{"labels empty key", `{"server_group": "g", "host": "h", "status": "synced", "labels": {"": "x"}}`, "labels"},
		{"stale_after garbage", `{"server_group": "g", "host": "h", "status": "synced", "stale_after": "soon"}`, "stale_after"},
		{"stale_after without unit", `{"server_group": "g", "host": "h", "status": "synced", "stale_after": "30"}`, "stale_after"},
		{"stale_after negative", `{"server_group": "g", "host": "h", "status": "synced", "stale_after": "-5m"}`, "stale_after"},
		{"stale_after number", `{"server_group": "g", "host": "h", "status": "synced", "stale_after": 1800}`, "stale_after"},
		{"reported_at garbage", `{"server_group": "g", "host": "h", "status": "synced", "reported_at": "yesterday"}`, "reported_at"},
		{"reported_at number", `{"server_group": "g", "host": "h", "status": "synced", "reported_at": 1777199400}`, "reported_at"},
		{"reported_at too far ahead", `{"server_group": "g", "host": "h", "status": "synced", "reported_at": "2026-04-26T12:05:01Z"}`, "reported_at"},
		{"reported_at far future", `{"server_group": "g", "host": "h", "status": "synced", "reported_at": "2099-01-01T00:00:00Z"}`, "reported_at"},
		{"last_pipeline_run alias too far ahead", `{"server_group": "g", "host": "h", "status": "synced", "last_pipeline_run": "2026-04-26T13:00:00Z"}`, "last_pipeline_run"},
		{"last_pipeline_run alias garbage", `{"server_group": "g", "host": "h", "status": "synced", "last_pipeline_run": "never"}`, "last_pipeline_run"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, _, err := gitops.ParsePipelineUpdate([]byte(tt.body), opts)
			if u != nil {
				t.Fatalf("update = %+v, want nil", u)
			}
			wantInvalid(t, err, tt.field)
		})
	}
}

// TestParsePipelineUpdate_itemTypeMessages checks that a wrong item inside a
// list or label map is named, so the user knows which one to fix.
func TestParsePipelineUpdate_itemTypeMessages(t *testing.T) {
	tests := []struct {
		name, body, want string
	}{
		{"list item", `{"server_group": "g", "host": "h", "status": "synced", "changed_files": ["/a", 2]}`, "got a number at index 1"},
		{"label value", `{"server_group": "g", "host": "h", "status": "synced", "labels": {"dc": 1}}`, `got a number for "dc"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := gitops.ParsePipelineUpdate([]byte(tt.body), opts)
			if msg := gitops.ErrorMessage(err); !strings.Contains(msg, tt.want) {
				t.Fatalf("message %q does not contain %q", msg, tt.want)
			}
		})
	}
}

func TestParsePipelineUpdate_skewMessage(t *testing.T) {
	_, _, err := gitops.ParsePipelineUpdate([]byte(`{"server_group": "g", "host": "h", "status": "synced", "reported_at": "2026-04-26T13:00:00Z"}`), opts)
	msg := gitops.ErrorMessage(err)
	for _, want := range []string{"2026-04-26T13:00:00Z", "ahead", "5m0s"} {
		if !strings.Contains(msg, want) {
			t.Fatalf("message %q does not contain %q", msg, want)
		}
	}
}

func TestParseCronUpdate(t *testing.T) {
	str := func(s string) *string { return &s }
	tests := []struct {
		name     string
		body     string
		want     gitops.CronUpdate
		warnings []string
	}{
		{
			name: "seed example",
			body: seedCronBody,
			want: gitops.CronUpdate{ServerGroup: "rsyslog-prod", Host: "rsyslog-01", Status: gitops.StatusOutOfSync,
				ChangedFiles: []string{"/etc/rsyslog.conf", "/etc/rsyslog.d/50-default.conf"}},
		},
		{
			name: "changed_files absent = []",
			body: `{"server_group": "g", "host": "h", "status": "SYNCED"}`,
			want: gitops.CronUpdate{ServerGroup: "g", Host: "h", Status: gitops.StatusSynced, ChangedFiles: []string{}},
		},
		{
			name: "identity fields read",
			body: `{"server_group": "g", "host": "h", "status": "synced", "project_name": "p", "repo_name": "r",
				"server_type": "nginx", "environment": "prod"}`,
			want: gitops.CronUpdate{ServerGroup: "g", Host: "h", Status: gitops.StatusSynced, ChangedFiles: []string{},
				ProjectName: "p", RepoName: "r", ServerType: "nginx", Environment: "prod"},
		},
		{
			name: "stale_after given",
			body: `{"server_group": "g", "host": "h", "status": "synced", "stale_after": "2h"}`,
			want: gitops.CronUpdate{ServerGroup: "g", Host: "h", Status: gitops.StatusSynced, ChangedFiles: []string{},
				StaleAfter: str("2h")},
		},
		{
			name: "stale_after empty resets to the global one",
			body: `{"server_group": "g", "host": "h", "status": "synced", "stale_after": ""}`,
			want: gitops.CronUpdate{ServerGroup: "g", Host: "h", Status: gitops.StatusSynced, ChangedFiles: []string{},
				StaleAfter: str("")},
		},
		{
			name: "stale_after null keeps",
			body: `{"server_group": "g", "host": "h", "status": "synced", "stale_after": null}`,
			want: gitops.CronUpdate{ServerGroup: "g", Host: "h", Status: gitops.StatusSynced, ChangedFiles: []string{}},
		},
		{
			name: "reported_at",
			body: `{"server_group": "g", "host": "h", "status": "synced", "reported_at": "2026-04-26T11:00:00.5+00:00"}`,
			want: gitops.CronUpdate{ServerGroup: "g", Host: "h", Status: gitops.StatusSynced, ChangedFiles: []string{},
				ReportedAt: mustTime(t, "2026-04-26T11:00:00.5Z")},
		},
		{
			name: "last_cron_check read as reported_at",
			body: `{"server_group": "g", "host": "h", "status": "synced", "last_cron_check": "2026-04-26T11:00:00"}`,
			want: gitops.CronUpdate{ServerGroup: "g", Host: "h", Status: gitops.StatusSynced, ChangedFiles: []string{},
				ReportedAt: mustTime(t, "2026-04-26T11:00:00Z")},
		},
		{
			name: "pipeline-only and server-owned fields warned",
			body: `{"server_group": "g", "host": "h", "status": "synced", "commit_sha": "abc", "branch": "main",
				"validation_status": "passed", "validation_message": "", "updated_by": "cron", "labels": {},
				"last_pipeline_run": "2026-04-26T11:00:00Z", "timestamp": null, "mystery": 1}`,
			want: gitops.CronUpdate{ServerGroup: "g", Host: "h", Status: gitops.StatusSynced, ChangedFiles: []string{}},
			warnings: []string{
				`"branch" is set only by pipeline updates`,
				`"commit_sha" is set only by pipeline updates`,
				`"labels" is set only by pipeline updates`,
				`"last_pipeline_run" is set only by pipeline updates`,
				`unknown field "mystery"`,
				`"timestamp" is set by the server`,
				`"updated_by" is set only by pipeline updates`,
				`"validation_message" is set only by pipeline updates`,
				`"validation_status" is set only by pipeline updates`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, warnings, err := gitops.ParseCronUpdate([]byte(tt.body), opts)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(*got, tt.want) {
				t.Fatalf("update =\n%+v\nwant\n%+v", *got, tt.want)
			}
			assertWarnings(t, warnings, tt.warnings)
		})
	}
}

func TestParseCronUpdate_errors(t *testing.T) {
	tests := []struct {
		name  string
		body  string
		field string
	}{
		{"server_group missing", `{"host": "h", "status": "synced"}`, "server_group"},
		{"server_group leading dash", `{"server_group": "-g", "host": "h", "status": "synced"}`, "server_group"},
		{"host missing", `{"server_group": "g", "status": "synced"}`, "host"},
		{"host unicode", `{"server_group": "g", "host": "hôst", "status": "synced"}`, "host"},
		{"status missing", `{"server_group": "g", "host": "h"}`, "status"},
		{"status bad", `{"server_group": "g", "host": "h", "status": "drift"}`, "status"},
		{"status number", `{"server_group": "g", "host": "h", "status": 0}`, "status"},
		{"changed_files object", `{"server_group": "g", "host": "h", "status": "synced", "changed_files": {}}`, "changed_files"},
		{"changed_files null entry", `{"server_group": "g", "host": "h", "status": "synced", "changed_files": [null]}`, "changed_files"},
		{"project_name number", `{"server_group": "g", "host": "h", "status": "synced", "project_name": 1}`, "project_name"},
		{"environment bool", `{"server_group": "g", "host": "h", "status": "synced", "environment": true}`, "environment"},
		{"stale_after bad", `{"server_group": "g", "host": "h", "status": "synced", "stale_after": "1 hour"}`, "stale_after"},
		{"stale_after negative", `{"server_group": "g", "host": "h", "status": "synced", "stale_after": "-1s"}`, "stale_after"},
		{"stale_after number", `{"server_group": "g", "host": "h", "status": "synced", "stale_after": 60}`, "stale_after"},
		{"reported_at bad", `{"server_group": "g", "host": "h", "status": "synced", "reported_at": "2026-04-26"}`, "reported_at"},
		{"reported_at too far ahead", `{"server_group": "g", "host": "h", "status": "synced", "reported_at": "2026-04-26T12:10:00Z"}`, "reported_at"},
		{"last_cron_check alias too far ahead", `{"server_group": "g", "host": "h", "status": "synced", "last_cron_check": "2026-04-26T15:10:00+03:00"}`, "last_cron_check"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, _, err := gitops.ParseCronUpdate([]byte(tt.body), opts)
			if u != nil {
				t.Fatalf("update = %+v, want nil", u)
			}
			wantInvalid(t, err, tt.field)
		})
	}
}

func TestParseLegacyUpdate(t *testing.T) {
	tests := []struct {
		name        string
		body        string
		legacyGroup string
		want        gitops.PipelineUpdate
		warnings    []string
	}{
		{
			name: "seed example",
			body: seedV1Body,
			want: gitops.PipelineUpdate{
				Source: gitops.SourceLegacy, ServerGroup: "rsyslog", Host: "rsyslog-lab", RepoName: "rsyslog",
				ServerType: "rsyslog", Status: gitops.StatusSynced, ChangedFiles: []string{},
				ValidationStatus: gitops.ValidationUnknown, UpdatedBy: "legacy-api", Labels: map[string]string{},
				LastCheck: mustTime(t, "2026-04-26T00:00:00Z"),
			},
		},
		{
			name:        "configured legacy group",
			body:        seedV1Body,
			legacyGroup: "legacy",
			want: gitops.PipelineUpdate{
				Source: gitops.SourceLegacy, ServerGroup: "legacy", Host: "rsyslog-lab", RepoName: "rsyslog",
				ServerType: "rsyslog", Status: gitops.StatusSynced, ChangedFiles: []string{},
				ValidationStatus: gitops.ValidationUnknown, UpdatedBy: "legacy-api", Labels: map[string]string{},
				LastCheck: mustTime(t, "2026-04-26T00:00:00Z"),
			},
		},
		{
			name: "drifted files win when non-empty",
			body: `{"repo": "rsyslog", "server": "lab", "sync_status": "OUT_OF_SYNC", "drift_count": 1,
				"deployed_files": ["/etc/a"], "drifted_files": ["/etc/b"]}`,
			want: gitops.PipelineUpdate{
				Source: gitops.SourceLegacy, ServerGroup: "rsyslog", Host: "lab", RepoName: "rsyslog",
				ServerType: "rsyslog", Status: gitops.StatusOutOfSync, ChangedFiles: []string{"/etc/b"},
				ValidationStatus: gitops.ValidationUnknown, UpdatedBy: "legacy-api", Labels: map[string]string{},
			},
		},
		{
			name: "deployed files when drifted empty",
			body: `{"repo": "rsyslog", "server": "lab", "sync_status": "synced", "deployed_files": ["/etc/a"], "drifted_files": []}`,
			want: gitops.PipelineUpdate{
				Source: gitops.SourceLegacy, ServerGroup: "rsyslog", Host: "lab", RepoName: "rsyslog",
				ServerType: "rsyslog", Status: gitops.StatusSynced, ChangedFiles: []string{"/etc/a"},
				ValidationStatus: gitops.ValidationUnknown, UpdatedBy: "legacy-api", Labels: map[string]string{},
			},
		},
		{
			name: "DRIFT means out of sync",
			body: `{"repo": "rsyslog", "server": "lab", "sync_status": "DRIFT"}`,
			want: gitops.PipelineUpdate{
				Source: gitops.SourceLegacy, ServerGroup: "rsyslog", Host: "lab", RepoName: "rsyslog",
				ServerType: "rsyslog", Status: gitops.StatusOutOfSync, ChangedFiles: []string{},
				ValidationStatus: gitops.ValidationUnknown, UpdatedBy: "legacy-api", Labels: map[string]string{},
			},
		},
		{
			name: "drifted means out of sync",
			body: `{"repo": "rsyslog", "server": "lab", "sync_status": "drifted"}`,
			want: gitops.PipelineUpdate{
				Source: gitops.SourceLegacy, ServerGroup: "rsyslog", Host: "lab", RepoName: "rsyslog",
				ServerType: "rsyslog", Status: gitops.StatusOutOfSync, ChangedFiles: []string{},
				ValidationStatus: gitops.ValidationUnknown, UpdatedBy: "legacy-api", Labels: map[string]string{},
			},
		},
		{
			name: "FAILED, python isoformat last_check",
			body: `{"repo": "rsyslog", "server": "lab", "sync_status": "FAILED", "last_check": "2026-04-26T13:00:00.123456+03:00"}`,
			want: gitops.PipelineUpdate{
				Source: gitops.SourceLegacy, ServerGroup: "rsyslog", Host: "lab", RepoName: "rsyslog",
				ServerType: "rsyslog", Status: gitops.StatusFailed, ChangedFiles: []string{},
				ValidationStatus: gitops.ValidationUnknown, UpdatedBy: "legacy-api", Labels: map[string]string{},
				LastCheck: mustTime(t, "2026-04-26T10:00:00.123456Z"),
			},
		},
		{
			name:        "repo may be empty with a legacy group",
			body:        `{"server": "lab", "sync_status": "UNKNOWN"}`,
			legacyGroup: "legacy",
			want: gitops.PipelineUpdate{
				Source: gitops.SourceLegacy, ServerGroup: "legacy", Host: "lab", Status: gitops.StatusUnknown,
				ChangedFiles: []string{}, ValidationStatus: gitops.ValidationUnknown, UpdatedBy: "legacy-api",
				Labels: map[string]string{},
			},
		},
		{
			name: "v2 fields are unknown to v1",
			body: `{"repo": "rsyslog", "server": "lab", "sync_status": "SYNCED", "status": "synced", "commit_sha": "abc"}`,
			want: gitops.PipelineUpdate{
				Source: gitops.SourceLegacy, ServerGroup: "rsyslog", Host: "lab", RepoName: "rsyslog",
				ServerType: "rsyslog", Status: gitops.StatusSynced, ChangedFiles: []string{},
				ValidationStatus: gitops.ValidationUnknown, UpdatedBy: "legacy-api", Labels: map[string]string{},
			},
			warnings: []string{`unknown field "commit_sha"`, `unknown field "status"`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := opts
			o.LegacyGroup = tt.legacyGroup
			got, warnings, err := gitops.ParseLegacyUpdate([]byte(tt.body), o)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(*got, tt.want) {
				t.Fatalf("update =\n%+v\nwant\n%+v", *got, tt.want)
			}
			assertWarnings(t, warnings, tt.warnings)
		})
	}
}

func TestParseLegacyUpdate_errors(t *testing.T) {
	tests := []struct {
		name  string
		body  string
		field string
	}{
		{"server missing", `{"repo": "r", "sync_status": "SYNCED"}`, "server"},
		{"server invalid", `{"repo": "r", "server": "a b", "sync_status": "SYNCED"}`, "server"},
		{"server number", `{"repo": "r", "server": 1, "sync_status": "SYNCED"}`, "server"},
		{"repo missing without legacy group", `{"server": "s", "sync_status": "SYNCED"}`, "repo"},
		{"repo invalid", `{"repo": "r/x", "server": "s", "sync_status": "SYNCED"}`, "repo"},
		{"repo number", `{"repo": 1, "server": "s", "sync_status": "SYNCED"}`, "repo"},
		{"sync_status missing", `{"repo": "r", "server": "s"}`, "sync_status"},
		{"sync_status bad", `{"repo": "r", "server": "s", "sync_status": "GOOD"}`, "sync_status"},
		{"sync_status number", `{"repo": "r", "server": "s", "sync_status": 1}`, "sync_status"},
		{"drift_count string", `{"repo": "r", "server": "s", "sync_status": "SYNCED", "drift_count": "0"}`, "drift_count"},
		{"deployed_files string", `{"repo": "r", "server": "s", "sync_status": "SYNCED", "deployed_files": "/a"}`, "deployed_files"},
		{"drifted_files numbers", `{"repo": "r", "server": "s", "sync_status": "SYNCED", "drifted_files": [1]}`, "drifted_files"},
		{"last_check bad", `{"repo": "r", "server": "s", "sync_status": "SYNCED", "last_check": "now"}`, "last_check"},
		{"last_check too far ahead", `{"repo": "r", "server": "s", "sync_status": "SYNCED", "last_check": "2026-04-26T13:00:00Z"}`, "last_check"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, _, err := gitops.ParseLegacyUpdate([]byte(tt.body), opts)
			if u != nil {
				t.Fatalf("update = %+v, want nil", u)
			}
			wantInvalid(t, err, tt.field)
		})
	}
}

func TestParseLegacyUpdate_driftCountAnyNumber(t *testing.T) {
	for _, n := range []string{`0`, `3`, `-1`, `2.5`, `1e400`} {
		t.Run(n, func(t *testing.T) {
			body := `{"repo": "r", "server": "s", "sync_status": "SYNCED", "drift_count": ` + n + `}`
			if _, _, err := gitops.ParseLegacyUpdate([]byte(body), opts); err != nil {
				t.Fatalf("drift_count %s: %v", n, err)
			}
		})
	}
}
