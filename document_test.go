package gitops_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	gitops "github.com/gitops-status/gitops-status"
)

func readTestdata(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func mustParseDocument(tb testing.TB, data []byte, p gitops.ParseOptions) *gitops.Document {
	tb.Helper()
	doc, err := gitops.ParseDocument(data, p)
	if err != nil {
		tb.Fatalf("ParseDocument: %v", err)
	}
	return doc
}

// byKey indexes a document's servers, failing on a duplicate key: a store
// could not import two servers with one key.
func byKey(tb testing.TB, doc *gitops.Document) map[gitops.Key]gitops.Server {
	tb.Helper()
	m := map[gitops.Key]gitops.Server{}
	for _, s := range doc.Servers {
		if _, dup := m[s.Key()]; dup {
			tb.Fatalf("document holds %s twice", s.Key())
		}
		m[s.Key()] = s
	}
	return m
}

func TestParseDocument_v1File(t *testing.T) {
	tests := []struct {
		name        string
		legacyGroup string
		wantGroup   string
	}{
		{"group = repo", "", "rsyslog"},
		{"configured legacy group", "legacy", "legacy"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := opts
			p.LegacyGroup = tt.legacyGroup
			doc := mustParseDocument(t, readTestdata(t, "v1-status.json"), p)
			if doc.Format != "1" || len(doc.Servers) != 1 || len(doc.Skipped) != 0 {
				t.Fatalf("Format %q, %d servers, skipped %q; want 1, 1, none", doc.Format, len(doc.Servers), doc.Skipped)
			}
			lc := mustTime(t, "2026-04-26T00:00:00Z")
			assertServer(t, doc.Servers[0], gitops.Server{
				ServerGroup: tt.wantGroup, Host: "rsyslog-lab", RepoName: "rsyslog", ServerType: "rsyslog",
				Status: gitops.StatusSynced, ChangedFiles: []string{}, ValidationStatus: gitops.ValidationUnknown,
				UpdatedBy: "legacy-api", LastPipelineRun: lc, Timestamp: lc, StatusSince: lc,
				LastSource: gitops.SourceLegacy, Labels: map[string]string{}, PipelineStatus: gitops.StatusSynced,
				Imported: true,
			})
		})
	}
}

func TestParseDocument_v1(t *testing.T) {
	tests := []struct {
		name        string
		data        string
		wantStatus  gitops.Status
		wantFiles   []string
		wantTime    time.Time
		wantSkipped bool
	}{
		{"drifted", `{"repo":"r","server":"s","sync_status":"DRIFT","deployed_files":["/a"],"drifted_files":["/b"],"last_check":"2026-04-26T10:00:00+00:00"}`,
			gitops.StatusOutOfSync, []string{"/b"}, mustTime(t, "2026-04-26T10:00:00Z"), false},
		{"without last_check: now", `{"repo":"r","server":"s","sync_status":"failed","deployed_files":["/a"]}`,
			gitops.StatusFailed, []string{"/a"}, t0, false},
		{"last_check far ahead is not refused by an import", `{"repo":"r","server":"s","sync_status":"SYNCED","last_check":"2027-01-01T00:00:00Z"}`,
			gitops.StatusSynced, []string{}, mustTime(t, "2027-01-01T00:00:00Z"), false},
		{"invalid server skipped", `{"repo":"r","server":"bad host","sync_status":"SYNCED"}`, "", nil, time.Time{}, true},
		{"invalid sync_status skipped", `{"repo":"r","server":"s","sync_status":"MAYBE"}`, "", nil, time.Time{}, true},
		{"missing sync_status skipped", `{"repo":"r","server":"s"}`, "", nil, time.Time{}, true},
		{"invalid repo skipped", `{"repo":"r/x","server":"s","sync_status":"SYNCED"}`, "", nil, time.Time{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := mustParseDocument(t, []byte(tt.data), opts)
			if tt.wantSkipped {
				if len(doc.Servers) != 0 || len(doc.Skipped) != 1 {
					t.Fatalf("%d servers, skipped %q; want 0 and 1", len(doc.Servers), doc.Skipped)
				}
				return
			}
			if len(doc.Servers) != 1 {
				t.Fatalf("%d servers, skipped %q", len(doc.Servers), doc.Skipped)
			}
			s := doc.Servers[0]
			if s.Status != tt.wantStatus || !reflect.DeepEqual(s.ChangedFiles, tt.wantFiles) {
				t.Fatalf("status %q files %q, want %q %q", s.Status, s.ChangedFiles, tt.wantStatus, tt.wantFiles)
			}
			for name, got := range map[string]time.Time{"last_pipeline_run": s.LastPipelineRun, "timestamp": s.Timestamp, "status_since": s.StatusSince} {
				if !got.Equal(tt.wantTime) {
					t.Errorf("%s = %v, want %v", name, got, tt.wantTime)
				}
			}
			if !s.Imported || s.LastSource != gitops.SourceLegacy || !s.LegacyWrittenAt.IsZero() {
				t.Fatalf("Imported %v LastSource %q LegacyWrittenAt %v; want true legacy zero", s.Imported, s.LastSource, s.LegacyWrittenAt)
			}
		})
	}
}

func TestParseDocument_v2File(t *testing.T) {
	doc := mustParseDocument(t, readTestdata(t, "v2-status.json"), opts)
	if doc.Format != "2.0" {
		t.Fatalf("Format = %q", doc.Format)
	}
	if len(doc.Skipped) != 1 || !strings.Contains(doc.Skipped[0], `"bad group/host-01"`) || !strings.Contains(doc.Skipped[0], "server_group") {
		t.Fatalf("Skipped = %q, want the bad group record named with its fault", doc.Skipped)
	}
	got := byKey(t, doc)
	if len(got) != 3 {
		t.Fatalf("%d servers, want 3", len(got))
	}
	tests := []struct {
		name string
		key  gitops.Key
		want gitops.Server
	}{
		{
			name: "seed rsyslog record: cron newer",
			key:  gitops.Key{ServerGroup: "rsyslog-prod", Host: "rsyslog-01"},
			want: gitops.Server{
				ServerGroup: "rsyslog-prod", Host: "rsyslog-01", ProjectName: "gitops-for-servers",
				RepoName: "rsyslog", ServerType: "rsyslog", Environment: "prod", Status: gitops.StatusSynced,
				ChangedFiles: []string{}, ValidationStatus: gitops.ValidationPassed,
				CommitSHA: "abc1234", Branch: "master", UpdatedBy: "woodpecker",
				LastPipelineRun: mustTime(t, "2026-04-26T10:30:00Z"), LastCronCheck: mustTime(t, "2026-04-26T11:00:00Z"),
				Timestamp: mustTime(t, "2026-04-26T11:00:00Z"), StatusSince: mustTime(t, "2026-04-26T11:00:00Z"),
				LastSource: gitops.SourceCron, DriftStatus: gitops.StatusSynced, Labels: map[string]string{},
				Imported: true,
			},
		},
		{
			name: "nginx out of sync",
			key:  gitops.Key{ServerGroup: "nginx-prod", Host: "nginx-01"},
			want: gitops.Server{
				ServerGroup: "nginx-prod", Host: "nginx-01", ProjectName: "gitops-for-servers",
				RepoName: "nginx", ServerType: "nginx", Environment: "prod", Status: gitops.StatusOutOfSync,
				ChangedFiles:     []string{"/etc/nginx/nginx.conf", "/etc/nginx/conf.d/default.conf"},
				ValidationStatus: gitops.ValidationPassed, ValidationMessage: "nginx -t passed",
				CommitSHA: "def5678", Branch: "main", UpdatedBy: "gitlab-ci",
				LastPipelineRun: mustTime(t, "2026-04-26T09:00:00Z"), LastCronCheck: mustTime(t, "2026-04-26T09:15:00Z"),
				Timestamp: mustTime(t, "2026-04-26T09:15:00Z"), StatusSince: mustTime(t, "2026-04-26T09:15:00Z"),
				LastSource: gitops.SourceCron, DriftStatus: gitops.StatusOutOfSync, Labels: map[string]string{},
				Imported: true,
			},
		},
		{
			name: "splunk never checked by cron: pipeline",
			key:  gitops.Key{ServerGroup: "splunk-dev", Host: "splunk-idx-01"},
			want: gitops.Server{
				ServerGroup: "splunk-dev", Host: "splunk-idx-01", ProjectName: "gitops-for-servers",
				RepoName: "splunk", ServerType: "splunk", Environment: "dev", Status: gitops.StatusFailed,
				ChangedFiles:     []string{"/opt/splunk/etc/system/local/inputs.conf"},
				ValidationStatus: gitops.ValidationFailed, ValidationMessage: "btool check failed",
				CommitSHA: "0a1b2c3", Branch: "develop", UpdatedBy: "jenkins",
				LastPipelineRun: mustTime(t, "2026-04-26T08:00:00Z"),
				Timestamp:       mustTime(t, "2026-04-26T08:00:00Z"), StatusSince: mustTime(t, "2026-04-26T08:00:00Z"),
				LastSource: gitops.SourcePipeline, PipelineStatus: gitops.StatusFailed, Labels: map[string]string{},
				Imported: true,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, ok := got[tt.key]
			if !ok {
				t.Fatalf("%s not imported", tt.key)
			}
			assertServer(t, s, tt.want)
		})
	}
}

func TestParseDocument_v2IsoformatFile(t *testing.T) {
	doc := mustParseDocument(t, readTestdata(t, "v2-status-isoformat.json"), opts)
	if len(doc.Skipped) != 0 {
		t.Fatalf("Skipped = %q", doc.Skipped)
	}
	got := byKey(t, doc)
	tests := []struct {
		name   string
		key    gitops.Key
		field  string
		value  func(gitops.Server) time.Time
		want   string
		source gitops.Source
	}{
		{"+00:00 with microseconds", gitops.Key{ServerGroup: "rsyslog-prod", Host: "rsyslog-01"}, "last_pipeline_run",
			func(s gitops.Server) time.Time { return s.LastPipelineRun }, "2026-04-26T10:30:00.123456Z", gitops.SourceCron},
		{"+03:00 converted to UTC", gitops.Key{ServerGroup: "rsyslog-prod", Host: "rsyslog-01"}, "last_cron_check",
			func(s gitops.Server) time.Time { return s.LastCronCheck }, "2026-04-26T11:00:00.654321Z", gitops.SourceCron},
		{"timestamp", gitops.Key{ServerGroup: "rsyslog-prod", Host: "rsyslog-01"}, "timestamp",
			func(s gitops.Server) time.Time { return s.Timestamp }, "2026-04-26T11:00:00.654321Z", gitops.SourceCron},
		{"offset-free read as UTC", gitops.Key{ServerGroup: "itnm-prod", Host: "itnm-01"}, "last_pipeline_run",
			func(s gitops.Server) time.Time { return s.LastPipelineRun }, "2026-04-26T12:00:00.000001Z", gitops.SourcePipeline},
		{"status_since from offset-free timestamp", gitops.Key{ServerGroup: "itnm-prod", Host: "itnm-01"}, "status_since",
			func(s gitops.Server) time.Time { return s.StatusSince }, "2026-04-26T12:00:00.000001Z", gitops.SourcePipeline},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, ok := got[tt.key]
			if !ok {
				t.Fatalf("%s not imported", tt.key)
			}
			if v := tt.value(s); !v.Equal(mustTime(t, tt.want)) || v.Location() != time.UTC {
				t.Fatalf("%s = %v, want %s in UTC", tt.field, v, tt.want)
			}
			if s.LastSource != tt.source {
				t.Fatalf("last_source = %q, want %q", s.LastSource, tt.source)
			}
		})
	}
	b, _ := json.Marshal(got[gitops.Key{ServerGroup: "rsyslog-prod", Host: "rsyslog-01"}])
	if !strings.Contains(string(b), `"last_cron_check":"2026-04-26T11:00:00.654321Z"`) {
		t.Fatalf("record %s does not write last_cron_check in UTC with Z", b)
	}
}

// TestParseDocument_v2Derivation covers the fields a v2.0 file lacks.
func TestParseDocument_v2Derivation(t *testing.T) {
	tests := []struct {
		name               string
		record             string
		wantSource         gitops.Source
		wantPipelineStatus gitops.Status
		wantDriftStatus    gitops.Status
		wantTimestamp      time.Time
		wantStatusSince    time.Time
		wantStatus         gitops.Status
	}{
		{"pipeline newer", `{"status":"failed","last_pipeline_run":"2026-04-26T11:00:00Z","last_cron_check":"2026-04-26T10:00:00Z","timestamp":"2026-04-26T11:00:00Z"}`,
			gitops.SourcePipeline, gitops.StatusFailed, "", mustTime(t, "2026-04-26T11:00:00Z"), mustTime(t, "2026-04-26T11:00:00Z"), gitops.StatusFailed},
		{"cron newer", `{"status":"OUT_OF_SYNC","last_pipeline_run":"2026-04-26T10:00:00Z","last_cron_check":"2026-04-26T11:00:00Z","timestamp":"2026-04-26T11:00:00Z"}`,
			gitops.SourceCron, "", gitops.StatusOutOfSync, mustTime(t, "2026-04-26T11:00:00Z"), mustTime(t, "2026-04-26T11:00:00Z"), gitops.StatusOutOfSync},
		{"equal times: pipeline", `{"status":"synced","last_pipeline_run":"2026-04-26T10:00:00Z","last_cron_check":"2026-04-26T10:00:00Z","timestamp":"2026-04-26T10:00:00Z"}`,
			gitops.SourcePipeline, gitops.StatusSynced, "", mustTime(t, "2026-04-26T10:00:00Z"), mustTime(t, "2026-04-26T10:00:00Z"), gitops.StatusSynced},
		{"cron only", `{"status":"synced","last_cron_check":"2026-04-26T10:00:00Z"}`,
			gitops.SourceCron, "", gitops.StatusSynced, mustTime(t, "2026-04-26T10:00:00Z"), mustTime(t, "2026-04-26T10:00:00Z"), gitops.StatusSynced},
		{"no times at all: now", `{"status":"synced"}`,
			"", "", "", t0, t0, gitops.StatusSynced},
		{"status missing: unknown", `{"last_pipeline_run":"2026-04-26T10:00:00Z"}`,
			gitops.SourcePipeline, gitops.StatusUnknown, "", mustTime(t, "2026-04-26T10:00:00Z"), mustTime(t, "2026-04-26T10:00:00Z"), gitops.StatusUnknown},
		{"status_since kept", `{"status":"synced","last_pipeline_run":"2026-04-26T10:00:00Z","timestamp":"2026-04-26T10:00:00Z","status_since":"2026-04-20T00:00:00Z"}`,
			gitops.SourcePipeline, gitops.StatusSynced, "", mustTime(t, "2026-04-26T10:00:00Z"), mustTime(t, "2026-04-20T00:00:00Z"), gitops.StatusSynced},
		{"last_source and both axes kept", `{"status":"out_of_sync","last_pipeline_run":"2026-04-26T11:00:00Z","last_cron_check":"2026-04-26T10:00:00Z",
			"timestamp":"2026-04-26T11:00:00Z","last_source":"LEGACY","pipeline_status":"failed","drift_status":"out_of_sync"}`,
			gitops.SourceLegacy, gitops.StatusFailed, gitops.StatusOutOfSync, mustTime(t, "2026-04-26T11:00:00Z"), mustTime(t, "2026-04-26T11:00:00Z"), gitops.StatusOutOfSync},
		{"derived axis does not overwrite one given", `{"status":"synced","last_pipeline_run":"2026-04-26T11:00:00Z","pipeline_status":"failed"}`,
			gitops.SourcePipeline, gitops.StatusFailed, "", mustTime(t, "2026-04-26T11:00:00Z"), mustTime(t, "2026-04-26T11:00:00Z"), gitops.StatusSynced},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := `{"version":"2.0","servers":{"g/h":` + tt.record + `}}`
			doc := mustParseDocument(t, []byte(data), opts)
			if len(doc.Servers) != 1 {
				t.Fatalf("skipped %q", doc.Skipped)
			}
			s := doc.Servers[0]
			if s.ServerGroup != "g" || s.Host != "h" {
				t.Errorf("key = %s, want g/h from the document key", s.Key())
			}
			if s.Status != tt.wantStatus {
				t.Errorf("status = %q, want %q", s.Status, tt.wantStatus)
			}
			if s.LastSource != tt.wantSource {
				t.Errorf("last_source = %q, want %q", s.LastSource, tt.wantSource)
			}
			if s.PipelineStatus != tt.wantPipelineStatus || s.DriftStatus != tt.wantDriftStatus {
				t.Errorf("pipeline_status %q drift_status %q, want %q %q", s.PipelineStatus, s.DriftStatus, tt.wantPipelineStatus, tt.wantDriftStatus)
			}
			if !s.Timestamp.Equal(tt.wantTimestamp) {
				t.Errorf("timestamp = %v, want %v", s.Timestamp, tt.wantTimestamp)
			}
			if !s.StatusSince.Equal(tt.wantStatusSince) {
				t.Errorf("status_since = %v, want %v", s.StatusSince, tt.wantStatusSince)
			}
			if !s.Imported {
				t.Errorf("Imported = false")
			}
			if s.ValidationStatus != gitops.ValidationUnknown || s.ChangedFiles == nil || s.Labels == nil {
				t.Errorf("defaults: validation %q files %#v labels %#v", s.ValidationStatus, s.ChangedFiles, s.Labels)
			}
		})
	}
}

func TestParseDocument_v2SkipsBadRecords(t *testing.T) {
	tests := []struct {
		name   string
		key    string
		record string
		fault  string
	}{
		{"space in group key", "bad group/h", `{"status":"synced"}`, "server_group"},
		{"space in group field", "bad group/h", `{"server_group":"bad group","host":"h","status":"synced"}`, "server_group"},
		{"no slash", "justahost", `{"status":"synced"}`, "host"},
		{"slash in host", "g/a/b", `{"status":"synced"}`, "host"},
		{"empty key", "", `{"status":"synced"}`, "server_group"},
		{"dot dot host", "g/..", `{"status":"synced"}`, "host"},
		{"fields disagree with key", "g/h1", `{"server_group":"g","host":"other","status":"synced"}`, "key"},
		{"status invalid", "g/h", `{"status":"drifting"}`, "status"},
		{"validation_status invalid", "g/h", `{"status":"synced","validation_status":"green"}`, "validation_status"},
		{"pipeline_status invalid", "g/h", `{"status":"synced","pipeline_status":"x"}`, "pipeline_status"},
		{"last_source invalid", "g/h", `{"status":"synced","last_source":"sweep"}`, "last_source"},
		{"stale_after invalid", "g/h", `{"status":"synced","stale_after":"forever"}`, "stale_after"},
		{"time invalid", "g/h", `{"status":"synced","timestamp":"last tuesday"}`, "timestamp"},
		{"changed_files wrong type", "g/h", `{"status":"synced","changed_files":"/a"}`, "changed_files"},
		{"labels wrong type", "g/h", `{"status":"synced","labels":["a"]}`, "labels"},
		{"commit_sha wrong type", "g/h", `{"status":"synced","commit_sha":123}`, "commit_sha"},
		{"record is a list", "g/h", `["synced"]`, "object"},
		{"record is a string", "g/h", `"synced"`, "object"},
		{"record is null", "g/h", `null`, "object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key, _ := json.Marshal(tt.key)
			data := `{"version":"2.0","servers":{` + string(key) + `:` + tt.record + `,"good/host-01":{"status":"synced"}}}`
			doc := mustParseDocument(t, []byte(data), opts)
			if len(doc.Servers) != 1 || doc.Servers[0].Key() != (gitops.Key{ServerGroup: "good", Host: "host-01"}) {
				t.Fatalf("servers = %v, want only good/host-01 (skipped %q)", doc.Servers, doc.Skipped)
			}
			if len(doc.Skipped) != 1 || !strings.Contains(doc.Skipped[0], string(key)) || !strings.Contains(doc.Skipped[0], tt.fault) {
				t.Fatalf("Skipped = %q, want one naming %s and %q", doc.Skipped, key, tt.fault)
			}
		})
	}
}

func TestParseDocument_v2KeysAreUnique(t *testing.T) {
	// Two records whose fields name the same server cannot both be imported.
	data := `{"version":"2.0","servers":{
		"g/h1":{"server_group":"g","host":"h","status":"synced"},
		"g/h2":{"server_group":"g","host":"h","status":"failed"},
		"g/h":{"server_group":"g","host":"h","status":"unknown"}}}`
	doc := mustParseDocument(t, []byte(data), opts)
	got := byKey(t, doc)
	if s, ok := got[gitops.Key{ServerGroup: "g", Host: "h"}]; !ok || s.Status != gitops.StatusUnknown || len(got) != 1 {
		t.Fatalf("servers = %v, want only g/h as its own key says", doc.Servers)
	}
	if len(doc.Skipped) != 2 {
		t.Fatalf("Skipped = %q, want 2", doc.Skipped)
	}
}

func TestParseDocument_errors(t *testing.T) {
	tests := []struct {
		name string
		data string
	}{
		{"empty", ``},
		{"not json", `version: 2.0`},
		{"array", `[{"repo":"r","server":"s","sync_status":"SYNCED"}]`},
		{"string", `"status"`},
		{"null", `null`},
		{"truncated", `{"version":"2.0","servers":{`},
		{"trailing data", `{"version":"2.0","servers":{}} {}`},
		{"neither format", `{"hello":"world"}`},
		{"empty object", `{}`},
		{"servers is a list", `{"version":"2.0","servers":[]}`},
		{"servers is a string", `{"version":"2.0","servers":"none"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc, err := gitops.ParseDocument([]byte(tt.data), opts)
			if doc != nil {
				t.Fatalf("doc = %+v, want nil", doc)
			}
			wantInvalid(t, err, "")
		})
	}
}

func TestParseDocument_emptyV2(t *testing.T) {
	for _, data := range []string{`{"version":"2.0","servers":{}}`, `{"version":"2.0","servers":null}`} {
		doc := mustParseDocument(t, []byte(data), opts)
		if len(doc.Servers) != 0 || len(doc.Skipped) != 0 || doc.Format != "2.0" {
			t.Fatalf("%s: %+v", data, doc)
		}
	}
}

// fullServer is a record with every field set, as a store holds it after a
// pipeline then a cron update.
func fullServer(t *testing.T) gitops.Server {
	t.Helper()
	p := &gitops.PipelineUpdate{
		Source: gitops.SourcePipeline, ServerGroup: "rsyslog-prod", Host: "rsyslog-01",
		ProjectName: "gitops-for-servers", RepoName: "rsyslog", ServerType: "rsyslog", Environment: "prod",
		Status: gitops.StatusFailed, ChangedFiles: []string{"/etc/rsyslog.conf"},
		ValidationStatus: gitops.ValidationFailed, ValidationMessage: "syntax error line 3",
		CommitSHA: "abc1234", Branch: "master", UpdatedBy: "woodpecker",
		Labels: map[string]string{"datacenter": "dc1", "owner": "ops"}, StaleAfter: "45m",
		ReportedAt: time.Date(2026, 4, 26, 9, 59, 0, 123456000, time.UTC),
	}
	s := p.Apply(nil, time.Date(2026, 4, 26, 10, 0, 0, 654321000, time.UTC)).Server
	c := &gitops.CronUpdate{ServerGroup: s.ServerGroup, Host: s.Host, Status: gitops.StatusOutOfSync,
		ChangedFiles: []string{"/etc/rsyslog.d/50-default.conf", "/etc/rsyslog.conf"},
		ReportedAt:   time.Date(2026, 4, 26, 10, 59, 0, 0, time.UTC)}
	out := c.Apply(&s, time.Date(2026, 4, 26, 11, 0, 0, 1000, time.UTC))
	if !out.Applied {
		t.Fatalf("cron not applied: %q", out.Warnings)
	}
	s = out.Server
	s.StatusSince = time.Date(2026, 4, 25, 0, 0, 0, 0, time.UTC)
	s.Imported = true
	return s
}

// TestExportImportRoundTrip: an export re-imported is the same store.
func TestExportImportRoundTrip(t *testing.T) {
	full := fullServer(t)
	fromV2 := mustParseDocument(t, readTestdata(t, "v2-status.json"), opts).Servers
	fromIso := mustParseDocument(t, readTestdata(t, "v2-status-isoformat.json"), opts).Servers
	fromV1 := mustParseDocument(t, readTestdata(t, "v1-status.json"), opts).Servers
	cronOnly := (&gitops.CronUpdate{ServerGroup: "nginx-prod", Host: "nginx-02", Status: gitops.StatusSynced,
		ServerType: "nginx", StaleAfter: ptr("0s")}).Apply(nil, t0).Server
	cronOnly.Imported = true
	tests := []struct {
		name    string
		servers []gitops.Server
	}{
		{"every field set", []gitops.Server{full}},
		{"cron-created record", []gitops.Server{cronOnly}},
		{"v2 testdata", fromV2},
		{"isoformat testdata", fromIso},
		{"v1 testdata", fromV1},
		{"v2 and v1 testdata together", append(append([]gitops.Server{cronOnly}, fromV2...), fromV1...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := gitops.ExportDocument(tt.servers, nil)
			doc := mustParseDocument(t, data, gitops.ParseOptions{Now: t0.Add(time.Hour)})
			if len(doc.Skipped) != 0 || doc.Format != "2.0" {
				t.Fatalf("Format %q skipped %q", doc.Format, doc.Skipped)
			}
			got := byKey(t, doc)
			if len(got) != len(tt.servers) {
				t.Fatalf("%d servers back, want %d", len(got), len(tt.servers))
			}
			for _, want := range tt.servers {
				want.Stale = false
				want.LegacyWrittenAt = time.Time{} // not part of the record
				assertServer(t, got[want.Key()], want)
			}
			// And the second export is byte for byte the first.
			if again := gitops.ExportDocument(doc.Servers, doc.Heads); string(again) != string(data) {
				t.Fatalf("second export differs:\n%s\nfirst:\n%s", again, data)
			}
		})
	}
}

func TestExportDocument_shape(t *testing.T) {
	s := gitops.Server{ServerGroup: "g", Host: "h", Status: gitops.StatusSynced, Stale: true}
	var doc struct {
		Version string                    `json:"version"`
		Servers map[string]map[string]any `json:"servers"`
	}
	if err := json.Unmarshal(gitops.ExportDocument([]gitops.Server{s}, nil), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Version != "2.0" {
		t.Fatalf("version = %q", doc.Version)
	}
	rec, ok := doc.Servers["g/h"]
	if !ok {
		t.Fatalf("servers = %v, want key g/h", doc.Servers)
	}
	for _, computed := range []string{"stale", "changed_files_count"} {
		if _, ok := rec[computed]; ok {
			t.Errorf("export carries computed field %q", computed)
		}
	}
	for _, field := range []string{"server_group", "host", "status", "changed_files", "labels", "last_pipeline_run",
		"pipeline_reported_at", "cron_reported_at", "status_since", "last_source", "pipeline_status", "drift_status", "stale_after"} {
		if _, ok := rec[field]; !ok {
			t.Errorf("export lacks %q", field)
		}
	}
}

func TestDocumentDesired(t *testing.T) {
	t0 := time.Date(2026, 4, 26, 10, 0, 0, 0, time.UTC)
	heads := []gitops.Head{
		{RepoName: "org/rsyslog", Branch: "master", CommitSHA: "def5678", UpdatedAt: t0, UpdatedBy: "github", ReportedAt: t0.Add(-time.Minute)},
		{RepoName: "nginx", Branch: "feature/x", CommitSHA: "abcd", UpdatedAt: t0},
	}
	data := gitops.ExportDocument(nil, heads)
	doc := mustParseDocument(t, data, gitops.ParseOptions{Now: t0})
	if len(doc.Heads) != 2 || doc.Heads[0] != heads[0] || doc.Heads[1] != heads[1] || len(doc.Skipped) != 0 {
		t.Fatalf("heads back %+v (skipped %q), want %+v", doc.Heads, doc.Skipped, heads)
	}
	// A v2.0 document has no "desired"; a bad head is skipped alone.
	doc = mustParseDocument(t, []byte(`{"version":"2.0","servers":{}}`), gitops.ParseOptions{Now: t0})
	if len(doc.Heads) != 0 {
		t.Fatalf("v2.0 document: heads %+v", doc.Heads)
	}
	doc = mustParseDocument(t, []byte(`{"version":"2.0","servers":{},"desired":[{"repo_name":"r","branch":"b","commit_sha":"xyz"},{"repo_name":"r","branch":"b","commit_sha":"ABCDEF1"}]}`), gitops.ParseOptions{Now: t0})
	if len(doc.Heads) != 1 || doc.Heads[0].CommitSHA != "abcdef1" || !doc.Heads[0].UpdatedAt.Equal(t0) || len(doc.Skipped) != 1 {
		t.Fatalf("heads %+v skipped %q; want the valid head (lower-cased, updated now) and one skipped", doc.Heads, doc.Skipped)
	}
}
