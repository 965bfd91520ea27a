package gitops_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	gitops "github.com/gitops-status/gitops-status"
)

// t0 is the fixed server clock most tests run at.
var t0 = time.Date(2026, 4, 26, 12, 0, 0, 0, time.UTC)

// at returns t0 moved by d, for readable relative times.
func at(d time.Duration) time.Time { return t0.Add(d) }

// mustTime parses an RFC 3339 time or fails the test.
func mustTime(tb testing.TB, s string) time.Time {
	tb.Helper()
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		tb.Fatal(err)
	}
	return t.UTC()
}

// wantInvalid fails unless err is an EINVALID error naming field.
func wantInvalid(tb testing.TB, err error, field string) {
	tb.Helper()
	if err == nil {
		tb.Fatalf("err = nil, want an EINVALID error about field %q", field)
	}
	if got, want := gitops.ErrorCode(err), gitops.EINVALID; got != want {
		tb.Fatalf("ErrorCode = %q, want %q (err %v)", got, want, err)
	}
	if got := gitops.ErrorField(err); got != field {
		tb.Fatalf("ErrorField = %q, want %q (err %v)", got, field, err)
	}
	if gitops.ErrorMessage(err) == "" {
		tb.Fatalf("error %v has no message", err)
	}
}

func TestValidateIdentifier(t *testing.T) {
	tests := []struct {
		name string
		in   string
		ok   bool
	}{
		{"simple", "rsyslog-prod", true},
		{"host", "rsyslog-01", true},
		{"dotted fqdn", "web01.dc1.example.com", true},
		{"underscore inside", "splunk_idx_01", true},
		{"one letter", "a", true},
		{"one digit", "7", true},
		{"starts with digit", "01-host", true},
		{"upper case kept", "RSyslog-PROD", true},
		{"253 characters", strings.Repeat("a", 253), true},
		{"254 characters", strings.Repeat("a", 254), false},
		{"empty", "", false},
		{"leading dot", ".hidden", false},
		{"leading dash", "-host", false},
		{"leading underscore", "_host", false},
		{"dot", ".", false},
		{"dot dot", "..", false},
		{"slash", "group/host", false},
		{"leading slash", "/host", false},
		{"space inside", "bad group", false},
		{"leading space", " host", false},
		{"trailing space", "host ", false},
		{"tab", "host\tname", false},
		{"newline", "host\n", false},
		{"nul", "host\x00", false},
		{"del", "host\x7f", false},
		{"unicode letter", "hôst", false},
		{"unicode digit", "host٣", false},
		{"percent encoded", "host%2F", false},
		{"colon", "host:5000", false},
		{"question mark", "host?x=1", false},
		{"backslash", `host\x`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := gitops.ValidateIdentifier("host", tt.in)
			if tt.ok {
				if err != nil {
					t.Fatalf("ValidateIdentifier(%q) = %v, want nil", tt.in, err)
				}
				return
			}
			wantInvalid(t, err, "host")
		})
	}
}

func TestValidateIdentifier_namesTheField(t *testing.T) {
	err := gitops.ValidateIdentifier("server_group", "bad group")
	wantInvalid(t, err, "server_group")
	if !strings.Contains(gitops.ErrorMessage(err), "server_group") {
		t.Fatalf("message %q does not name server_group", gitops.ErrorMessage(err))
	}
}

func TestParseStatus(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want gitops.Status
		ok   bool
	}{
		{"synced", "synced", gitops.StatusSynced, true},
		{"upper", "SYNCED", gitops.StatusSynced, true},
		{"mixed", "SyNcEd", gitops.StatusSynced, true},
		{"out_of_sync", "out_of_sync", gitops.StatusOutOfSync, true},
		{"OUT_OF_SYNC", "OUT_OF_SYNC", gitops.StatusOutOfSync, true},
		{"failed", "Failed", gitops.StatusFailed, true},
		{"unknown", "UNKNOWN", gitops.StatusUnknown, true},
		{"empty", "", "", false},
		{"v1 drift is not a v2 status", "drift", "", false},
		{"dashes", "out-of-sync", "", false},
		{"space", "synced ", "", false},
		{"other", "ok", "", false},
		{"kelvin sign is not a K", "UN\u212aNOWN", "", false},
		{"dotted capital I is not an I", "FA\u0130LED", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := gitops.ParseStatus("status", tt.in)
			if !tt.ok {
				wantInvalid(t, err, "status")
				msg := gitops.ErrorMessage(err)
				for _, s := range gitops.Statuses {
					if !strings.Contains(msg, `"`+string(s)+`"`) {
						t.Fatalf("message %q does not list %q", msg, s)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("ParseStatus(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseValidationStatus(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want gitops.ValidationStatus
		ok   bool
	}{
		{"passed", "passed", gitops.ValidationPassed, true},
		{"PASSED", "PASSED", gitops.ValidationPassed, true},
		{"Failed", "Failed", gitops.ValidationFailed, true},
		{"skipped", "sKiPpEd", gitops.ValidationSkipped, true},
		{"unknown", "unknown", gitops.ValidationUnknown, true},
		{"empty", "", "", false},
		{"a sync status", "synced", "", false},
		{"ok", "ok", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := gitops.ParseValidationStatus("validation_status", tt.in)
			if !tt.ok {
				wantInvalid(t, err, "validation_status")
				msg := gitops.ErrorMessage(err)
				for _, s := range gitops.ValidationStatuses {
					if !strings.Contains(msg, `"`+string(s)+`"`) {
						t.Fatalf("message %q does not list %q", msg, s)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("ParseValidationStatus(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseV1SyncStatus(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want gitops.Status
		ok   bool
	}{
		{"SYNCED", "SYNCED", gitops.StatusSynced, true},
		{"synced", "synced", gitops.StatusSynced, true},
		{"OUT_OF_SYNC", "OUT_OF_SYNC", gitops.StatusOutOfSync, true},
		{"out_of_sync", "out_of_sync", gitops.StatusOutOfSync, true},
		{"DRIFT", "DRIFT", gitops.StatusOutOfSync, true},
		{"drifted", "drifted", gitops.StatusOutOfSync, true},
		{"FAILED", "FAILED", gitops.StatusFailed, true},
		{"Unknown", "Unknown", gitops.StatusUnknown, true},
		{"empty", "", "", false},
		{"other", "BROKEN", "", false},
		{"long s is not an S", "\u017fYNCED", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := gitops.ParseV1SyncStatus(tt.in)
			if !tt.ok {
				wantInvalid(t, err, "sync_status")
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("ParseV1SyncStatus(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseTime(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string // RFC 3339 UTC; "" = refused
	}{
		{"Z", "2026-04-26T10:30:00Z", "2026-04-26T10:30:00Z"},
		{"+00:00", "2026-04-26T10:30:00+00:00", "2026-04-26T10:30:00Z"},
		{"+03:00 converted to UTC", "2026-04-26T13:30:00+03:00", "2026-04-26T10:30:00Z"},
		{"-05:00 crosses midnight", "2026-04-25T21:30:00-05:00", "2026-04-26T02:30:00Z"},
		{"fraction Z", "2026-04-26T10:30:00.5Z", "2026-04-26T10:30:00.5Z"},
		{"nanoseconds", "2026-04-26T10:30:00.123456789Z", "2026-04-26T10:30:00.123456789Z"},
		{"python isoformat utc", "2026-04-26T10:30:00.123456+00:00", "2026-04-26T10:30:00.123456Z"},
		{"python isoformat offset", "2026-04-26T13:30:00.123456+03:00", "2026-04-26T10:30:00.123456Z"},
		{"python naive isoformat", "2026-04-26T10:30:00.123456", "2026-04-26T10:30:00.123456Z"},
		{"offset-free without fraction", "2026-04-26T10:30:00", "2026-04-26T10:30:00Z"},
		{"offset-free without seconds", "2026-04-26T10:30", "2026-04-26T10:30:00Z"},
		{"python str() with space", "2026-04-26 10:30:00.123456", "2026-04-26T10:30:00.123456Z"},
		{"python str() with space and offset", "2026-04-26 13:30:00+03:00", "2026-04-26T10:30:00Z"},
		{"empty", "", ""},
		{"garbage", "yesterday", ""},
		{"date only", "2026-04-26", ""},
		{"epoch number", "1777199400", ""},
		{"bad month", "2026-13-26T10:30:00Z", ""},
		{"bad day", "2026-02-30T10:30:00Z", ""},
		{"bad hour", "2026-04-26T25:30:00Z", ""},
		{"trailing junk", "2026-04-26T10:30:00Zjunk", ""},
		{"leading space", " 2026-04-26T10:30:00Z", ""},
		{"year 10000 after the offset", "9999-12-31T23:30:00-01:00", ""},
		{"before year 1 after the offset", "0001-01-01T00:30:00+01:00", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := gitops.ParseTime(tt.in)
			if tt.want == "" {
				if err == nil {
					t.Fatalf("ParseTime(%q) = %v, want an error", tt.in, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseTime(%q): %v", tt.in, err)
			}
			if got.Location() != time.UTC {
				t.Fatalf("ParseTime(%q) location = %v, want UTC", tt.in, got.Location())
			}
			if want := mustTime(t, tt.want); !got.Equal(want) {
				t.Fatalf("ParseTime(%q) = %v, want %v", tt.in, got, want)
			}
		})
	}
}

func TestTimeJSON(t *testing.T) {
	tests := []struct {
		name string
		in   time.Time
		want string
	}{
		{"zero is null", time.Time{}, `null`},
		{"utc", time.Date(2026, 4, 26, 10, 30, 0, 0, time.UTC), `"2026-04-26T10:30:00Z"`},
		{"offset converted", time.Date(2026, 4, 26, 13, 30, 0, 0, time.FixedZone("", 3*3600)), `"2026-04-26T10:30:00Z"`},
		{"microseconds", time.Date(2026, 4, 26, 10, 30, 0, 123456000, time.UTC), `"2026-04-26T10:30:00.123456Z"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := json.Marshal(gitops.Time{Time: tt.in})
			if err != nil {
				t.Fatal(err)
			}
			if got := string(b); got != tt.want {
				t.Fatalf("Marshal = %s, want %s", got, tt.want)
			}
			var back gitops.Time
			if err := json.Unmarshal(b, &back); err != nil {
				t.Fatal(err)
			}
			if !back.Equal(tt.in) {
				t.Fatalf("round trip = %v, want %v", back.Time, tt.in)
			}
		})
	}
}

func TestTimeUnmarshalJSON_refusesNonStrings(t *testing.T) {
	for _, in := range []string{`1777199400`, `true`, `{}`, `[]`, `"soon"`} {
		t.Run(in, func(t *testing.T) {
			var tm gitops.Time
			if err := json.Unmarshal([]byte(in), &tm); err == nil {
				t.Fatalf("Unmarshal(%s) = %v, want an error", in, tm.Time)
			}
		})
	}
}

func TestIsStale(t *testing.T) {
	tests := []struct {
		name       string
		pipeline   time.Time
		cron       time.Time
		staleAfter string
		global     time.Duration
		want       bool
	}{
		{"global off, fresh", at(-time.Minute), time.Time{}, "", 0, false},
		{"global off, ancient", at(-1000 * time.Hour), time.Time{}, "", 0, false},
		{"global on, fresh", at(-59 * time.Minute), time.Time{}, "", time.Hour, false},
		{"global on, exactly at threshold is not older", at(-time.Hour), time.Time{}, "", time.Hour, false},
		{"global on, old", at(-61 * time.Minute), time.Time{}, "", time.Hour, true},
		{"newest of the two: cron fresh", at(-5 * time.Hour), at(-time.Minute), "", time.Hour, false},
		{"newest of the two: pipeline fresh", at(-time.Minute), at(-5 * time.Hour), "", time.Hour, false},
		{"newest of the two: both old", at(-3 * time.Hour), at(-2 * time.Hour), "", time.Hour, true},
		{"own threshold when global off", at(-31 * time.Minute), time.Time{}, "30m", 0, true},
		{"own threshold when global off, fresh", at(-29 * time.Minute), time.Time{}, "30m", 0, false},
		{"own threshold longer than global", at(-2 * time.Hour), time.Time{}, "3h", time.Hour, false},
		{"own threshold shorter than global", at(-2 * time.Hour), time.Time{}, "1h", 24 * time.Hour, true},
		{"0s never stale with global on", at(-1000 * time.Hour), time.Time{}, "0s", time.Hour, false},
		{"0 never stale with global on", at(-1000 * time.Hour), time.Time{}, "0", time.Hour, false},
		{"never reported, global on", time.Time{}, time.Time{}, "", time.Hour, true},
		{"never reported, global off", time.Time{}, time.Time{}, "", 0, false},
		{"report from the future", at(time.Hour), time.Time{}, "", time.Minute, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := gitops.Server{LastPipelineRun: tt.pipeline, LastCronCheck: tt.cron, StaleAfter: tt.staleAfter}
			if got := s.IsStale(t0, tt.global); got != tt.want {
				t.Fatalf("IsStale = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestServerMarshalJSON(t *testing.T) {
	t.Run("every field of the record", func(t *testing.T) {
		s := gitops.Server{
			ServerGroup: "rsyslog-prod", Host: "rsyslog-01",
			ProjectName: "gitops-for-servers", RepoName: "rsyslog", ServerType: "rsyslog", Environment: "prod",
			Status: gitops.StatusOutOfSync, ChangedFiles: []string{"/etc/rsyslog.conf", "/etc/rsyslog.d/50-default.conf"},
			ValidationStatus: gitops.ValidationPassed, ValidationMessage: "ok",
			CommitSHA: "abc1234", Branch: "master", UpdatedBy: "woodpecker",
			LastPipelineRun:    mustTime(t, "2026-04-26T10:30:00Z"),
			LastCronCheck:      mustTime(t, "2026-04-26T11:00:00.5Z"),
			Timestamp:          mustTime(t, "2026-04-26T11:00:00.5Z"),
			StatusSince:        mustTime(t, "2026-04-26T11:00:00.5Z"),
			LastSource:         gitops.SourceCron,
			Labels:             map[string]string{"datacenter": "dc1"},
			PipelineStatus:     gitops.StatusSynced,
			DriftStatus:        gitops.StatusOutOfSync,
			StaleAfter:         "30m",
			PipelineReportedAt: mustTime(t, "2026-04-26T10:29:00Z"),
			Stale:              true,
			LegacyWrittenAt:    t0,
			Imported:           true,
		}
		got := marshalMap(t, s)
		want := map[string]any{
			"project_name": "gitops-for-servers", "repo_name": "rsyslog", "server_group": "rsyslog-prod",
			"server_type": "rsyslog", "environment": "prod", "host": "rsyslog-01",
			"status": "out_of_sync", "changed_files": []any{"/etc/rsyslog.conf", "/etc/rsyslog.d/50-default.conf"},
			"validation_status": "passed", "validation_message": "ok", "commit_sha": "abc1234",
			"branch": "master", "updated_by": "woodpecker",
			"last_pipeline_run": "2026-04-26T10:30:00Z", "last_cron_check": "2026-04-26T11:00:00.5Z",
			"timestamp": "2026-04-26T11:00:00.5Z", "status_since": "2026-04-26T11:00:00.5Z",
			"last_source": "cron", "labels": map[string]any{"datacenter": "dc1"},
			"pipeline_status": "synced", "drift_status": "out_of_sync", "stale_after": "30m",
			"pipeline_reported_at": "2026-04-26T10:29:00Z", "cron_reported_at": nil,
			"stale": true, "changed_files_count": float64(2),
			"desired_commit_sha": "", "behind": false, "behind_since": nil,
		}
		assertJSONMap(t, got, want)
	})
	t.Run("defaults: [] {} null", func(t *testing.T) {
		got := marshalMap(t, gitops.Server{ServerGroup: "g", Host: "h", Status: gitops.StatusUnknown})
		for field, want := range map[string]string{
			"changed_files": `[]`, "labels": `{}`, "changed_files_count": `0`, "stale": `false`,
			"desired_commit_sha": `""`, "behind": `false`, "behind_since": `null`,
			"last_pipeline_run": `null`, "last_cron_check": `null`, "timestamp": `null`, "status_since": `null`,
			"pipeline_reported_at": `null`, "cron_reported_at": `null`,
			"project_name": `""`, "pipeline_status": `""`, "drift_status": `""`, "stale_after": `""`,
		} {
			b, _ := json.Marshal(got[field])
			if string(b) != want {
				t.Errorf("%s = %s, want %s", field, b, want)
			}
		}
	})
	t.Run("pointer and slice marshal the same", func(t *testing.T) {
		s := gitops.Server{ServerGroup: "g", Host: "h", ChangedFiles: []string{"a"}}
		a, _ := json.Marshal(s)
		b, _ := json.Marshal(&s)
		c, _ := json.Marshal([]gitops.Server{s})
		if string(a) != string(b) || "["+string(a)+"]" != string(c) {
			t.Fatalf("value %s, pointer %s, slice %s differ", a, b, c)
		}
	})
}

func marshalMap(tb testing.TB, v any) map[string]any {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		tb.Fatal(err)
	}
	return m
}

// assertJSONMap compares decoded JSON objects field by field, so a failure
// names the field.
func assertJSONMap(tb testing.TB, got, want map[string]any) {
	tb.Helper()
	for k, w := range want {
		g, ok := got[k]
		if !ok {
			tb.Errorf("field %q missing", k)
			continue
		}
		gb, _ := json.Marshal(g)
		wb, _ := json.Marshal(w)
		if string(gb) != string(wb) {
			tb.Errorf("%s = %s, want %s", k, gb, wb)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			tb.Errorf("unexpected field %q", k)
		}
	}
}
