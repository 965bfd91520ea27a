package gitops_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	gitops "github.com/gitops-status/gitops-status"
)

func TestServerUnmarshalJSON_roundTrip(t *testing.T) {
	at := time.Date(2026, 4, 26, 10, 30, 0, 123456000, time.UTC)
	want := gitops.Server{
		ServerGroup: "rsyslog-prod", Host: "rsyslog-01",
		ProjectName: "gitops-for-servers", RepoName: "rsyslog", ServerType: "rsyslog", Environment: "prod",
		Status: gitops.StatusOutOfSync, ChangedFiles: []string{"/etc/rsyslog.conf", "/etc/a \"quoted\".conf"},
		ValidationStatus: gitops.ValidationPassed, ValidationMessage: "ok\nsecond line",
		CommitSHA: "abc1234", Branch: "master", UpdatedBy: "woodpecker",
		LastPipelineRun: at, LastCronCheck: at.Add(time.Hour), Timestamp: at.Add(time.Hour),
		StatusSince: at.Add(time.Hour), LastSource: gitops.SourceCron,
		Labels:         map[string]string{"dc": "fra1", "owner": "ops"},
		PipelineStatus: gitops.StatusSynced, DriftStatus: gitops.StatusOutOfSync,
		StaleAfter: "30m", PipelineReportedAt: at.Add(-time.Minute), CronReportedAt: at.Add(59 * time.Minute),
		Stale:   true,
		Desired: gitops.Desired{CommitSHA: "def5678", Behind: true, BehindSince: at},
	}
	b, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	var got gitops.Server
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("Unmarshal(%s): %v", b, err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("round trip changed the record:\n got %+v\nwant %+v", got, want)
	}

	// A list, with a response's warnings and a field from a newer server.
	list := `[` + strings.TrimSuffix(string(b), "}") + `,"warnings":["x"],"newer_field":true}]`
	var l []gitops.Server
	if err := json.Unmarshal([]byte(list), &l); err != nil || len(l) != 1 || !reflect.DeepEqual(l[0], want) {
		t.Fatalf("list: %v, %+v", err, l)
	}
}

func TestServerUnmarshalJSON_refuses(t *testing.T) {
	tests := []struct {
		name, body, field string
	}{
		{"not an object", `[]`, ""},
		{"bad host", `{"server_group":"g","host":"a/b","status":"synced"}`, "host"},
		{"bad status", `{"server_group":"g","host":"h","status":"green"}`, "status"},
		{"bad stale", `{"server_group":"g","host":"h","status":"synced","stale":"yes"}`, "stale"},
		{"bad time", `{"server_group":"g","host":"h","status":"synced","timestamp":"yesterday"}`, "timestamp"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s gitops.Server
			err := json.Unmarshal([]byte(tt.body), &s)
			if err == nil {
				t.Fatalf("Unmarshal(%s) = nil error, want one", tt.body)
			}
			if got := gitops.ErrorField(err); got != tt.field {
				t.Fatalf("error %v names field %q, want %q", err, got, tt.field)
			}
		})
	}
}
