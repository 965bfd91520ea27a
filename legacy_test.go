package gitops_test

import (
	"encoding/json"
	"testing"
	"time"

	gitops "github.com/gitops-status/gitops-status"
)

func TestV1View(t *testing.T) {
	tests := []struct {
		name string
		in   gitops.Server
		want string
	}{
		{
			name: "out of sync: drifted files and count",
			in: gitops.Server{RepoName: "rsyslog", Host: "rsyslog-lab", Status: gitops.StatusOutOfSync,
				ChangedFiles: []string{"/etc/a", "/etc/b"}, LastPipelineRun: mustTime(t, "2026-04-26T10:30:00Z")},
			want: `{"repo":"rsyslog","server":"rsyslog-lab","sync_status":"OUT_OF_SYNC","drift_count":2,"deployed_files":[],"drifted_files":["/etc/a","/etc/b"],"last_check":"2026-04-26T10:30:00Z"}`,
		},
		{
			name: "synced: deployed files, no drift",
			in: gitops.Server{RepoName: "rsyslog", Host: "rsyslog-lab", Status: gitops.StatusSynced,
				ChangedFiles: []string{"/etc/a"}, LastPipelineRun: mustTime(t, "2026-04-26T10:30:00Z"),
				LastCronCheck: mustTime(t, "2026-04-26T11:00:00Z")},
			want: `{"repo":"rsyslog","server":"rsyslog-lab","sync_status":"SYNCED","drift_count":0,"deployed_files":["/etc/a"],"drifted_files":[],"last_check":"2026-04-26T11:00:00Z"}`,
		},
		{
			name: "failed, pipeline newer than cron",
			in: gitops.Server{RepoName: "nginx", Host: "web", Status: gitops.StatusFailed,
				LastPipelineRun: mustTime(t, "2026-04-26T12:00:00.5Z"), LastCronCheck: mustTime(t, "2026-04-26T11:00:00Z")},
			want: `{"repo":"nginx","server":"web","sync_status":"FAILED","drift_count":0,"deployed_files":[],"drifted_files":[],"last_check":"2026-04-26T12:00:00.5Z"}`,
		},
		{
			name: "unknown, never reported",
			in:   gitops.Server{Host: "h", Status: gitops.StatusUnknown},
			want: `{"repo":"","server":"h","sync_status":"UNKNOWN","drift_count":0,"deployed_files":[],"drifted_files":[],"last_check":null}`,
		},
		{
			name: "out of sync without files",
			in:   gitops.Server{RepoName: "r", Host: "h", Status: gitops.StatusOutOfSync, LastCronCheck: mustTime(t, "2026-04-26T11:00:00Z")},
			want: `{"repo":"r","server":"h","sync_status":"OUT_OF_SYNC","drift_count":0,"deployed_files":[],"drifted_files":[],"last_check":"2026-04-26T11:00:00Z"}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := json.Marshal(gitops.V1View(&tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if got := string(b); got != tt.want {
				t.Fatalf("V1View =\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

// TestV1RoundTrip checks a v1 client reads back what it wrote.
func TestV1RoundTrip(t *testing.T) {
	tests := []struct {
		name string
		body string
		want string
	}{
		{"seed", seedV1Body, `{"repo":"rsyslog","server":"rsyslog-lab","sync_status":"SYNCED","drift_count":0,"deployed_files":[],"drifted_files":[],"last_check":"2026-04-26T00:00:00Z"}`},
		{"drift", `{"repo":"rsyslog","server":"lab","sync_status":"DRIFTED","drift_count":1,"deployed_files":[],"drifted_files":["/etc/x"],"last_check":"2026-04-26T11:00:00+00:00"}`,
			`{"repo":"rsyslog","server":"lab","sync_status":"OUT_OF_SYNC","drift_count":1,"deployed_files":[],"drifted_files":["/etc/x"],"last_check":"2026-04-26T11:00:00Z"}`},
		{"deployed", `{"repo":"rsyslog","server":"lab","sync_status":"synced","deployed_files":["/etc/a","/etc/b"],"last_check":"2026-04-26T11:00:00"}`,
			`{"repo":"rsyslog","server":"lab","sync_status":"SYNCED","drift_count":0,"deployed_files":["/etc/a","/etc/b"],"drifted_files":[],"last_check":"2026-04-26T11:00:00Z"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, _, err := gitops.ParseLegacyUpdate([]byte(tt.body), opts)
			if err != nil {
				t.Fatal(err)
			}
			s := u.Apply(nil, t0).Server
			b, _ := json.Marshal(gitops.V1View(&s))
			if got := string(b); got != tt.want {
				t.Fatalf("got\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

func TestPickLegacyHost(t *testing.T) {
	srv := func(group string, ts time.Duration) gitops.Server {
		return gitops.Server{ServerGroup: group, Host: "lab", Timestamp: at(ts)}
	}
	legacySrv := func(group string, ts, legacyAt time.Duration) gitops.Server {
		s := srv(group, ts)
		s.LegacyWrittenAt = at(legacyAt)
		return s
	}
	tests := []struct {
		name        string
		candidates  []gitops.Server
		legacyGroup string
		wantGroup   string
		wantOK      bool
	}{
		{"none", nil, "legacy", "", false},
		{"one", []gitops.Server{srv("a", 0)}, "", "a", true},
		{"legacy group wins over newer", []gitops.Server{srv("a", 0), srv("legacy", -time.Hour), srv("b", time.Hour)}, "legacy", "legacy", true},
		{"no legacy group configured: newest", []gitops.Server{srv("a", 0), srv("b", time.Hour), srv("c", -time.Hour)}, "", "b", true},
		{"legacy group absent: newest", []gitops.Server{srv("a", time.Hour), srv("b", 0)}, "legacy", "a", true},
		{"tie: first", []gitops.Server{srv("a", 0), srv("b", 0)}, "", "a", true},
		{"no legacy group configured: last written by the legacy API wins over newer", []gitops.Server{legacySrv("rsyslog", -time.Hour, -time.Hour), legacySrv("old", -2*time.Hour, -2*time.Hour), srv("other", time.Hour)}, "", "rsyslog", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := gitops.PickLegacyHost(tt.candidates, tt.legacyGroup)
			if ok != tt.wantOK || got.ServerGroup != tt.wantGroup {
				t.Fatalf("PickLegacyHost = %q, %v; want %q, %v", got.ServerGroup, ok, tt.wantGroup, tt.wantOK)
			}
		})
	}
}
