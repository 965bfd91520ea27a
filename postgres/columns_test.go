package postgres

import (
	"reflect"
	"testing"
	"time"

	gitops "github.com/gitops-status/gitops-status"
	"github.com/gitops-status/gitops-status/internal/rowargs"
)

// TestChangedColumns: an update writes exactly the columns whose value
// changed, with the value the record gives them, and never the key.
func TestChangedColumns(t *testing.T) {
	at := time.Date(2026, 12, 7, 1, 2, 3, 4000, time.UTC)
	base := gitops.Server{
		ServerGroup: "web", Host: "web-01", ProjectName: "p", RepoName: "r", ServerType: "vm", Environment: "prod",
		Status: gitops.StatusSynced, ChangedFiles: []string{}, ValidationStatus: gitops.ValidationPassed,
		CommitSHA: "abc1234", Branch: "main", UpdatedBy: "ci", LastPipelineRun: at, StatusSince: at,
		LastSource: gitops.SourcePipeline, Labels: map[string]string{"dc": "fra"}, PipelineStatus: gitops.StatusSynced,
		StaleAfter: "2h", PipelineReportedAt: at,
	}
	for _, tc := range []struct {
		name   string
		both   func(s *gitops.Server) // before the change, to both records
		change func(s *gitops.Server)
		want   []int // argument positions besides the head
	}{
		{"nothing", nil, func(s *gitops.Server) {}, nil},
		{"the key", nil, func(s *gitops.Server) { s.ServerGroup, s.Host = "db", "db-01" }, nil},
		{"status", nil, func(s *gitops.Server) { s.Status = gitops.StatusOutOfSync }, []int{6}},
		{"changed files", nil, func(s *gitops.Server) { s.ChangedFiles = []string{"a.yml"} }, []int{7}},
		{"nil and empty changed files", nil, func(s *gitops.Server) { s.ChangedFiles = nil }, nil},
		{"a time set", nil, func(s *gitops.Server) { s.LastCronCheck = at }, []int{14}},
		{"a time cleared", nil, func(s *gitops.Server) { s.LastPipelineRun = time.Time{} }, []int{13}},
		{"a time moved", nil, func(s *gitops.Server) { s.StatusSince = at.Add(time.Microsecond) }, []int{16}},
		{"the same instant elsewhere", nil, func(s *gitops.Server) { s.StatusSince = at.In(time.FixedZone("x", 3600)) }, nil},
		{"a label", nil, func(s *gitops.Server) { s.Labels = map[string]string{"dc": "ams"} }, []int{18}},
		{"labels nil and empty", func(s *gitops.Server) { s.Labels = nil }, func(s *gitops.Server) { s.Labels = map[string]string{} }, nil},
		{"stale_after and its nanoseconds", nil, func(s *gitops.Server) { s.StaleAfter = "30m" }, []int{21, 26}},
		{"imported", nil, func(s *gitops.Server) { s.Imported = true }, []int{25}},
		{"several", nil, func(s *gitops.Server) { s.CommitSHA, s.UpdatedBy = "def5678", "me" }, []int{10, 12}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := base.Clone()
			if tc.both != nil {
				tc.both(&before)
			}
			after := before.Clone()
			tc.change(&after)
			want := rowargs.Set(1) << headArg
			for _, i := range tc.want {
				want |= 1 << i
			}
			set := changedColumns(&before, &after)
			if set != want {
				t.Fatalf("changedColumns = %b, want %b", set, want)
			}
			head := after.AppendJSONHead(nil)
			all := append(serverArgs(&after), head)
			wantArgs := set.Append([]any{after.ServerGroup, after.Host}, all)
			if got := updateArgs(set, &after, head); !reflect.DeepEqual(got, wantArgs) {
				t.Fatalf("updateArgs = %v, want %v", got, wantArgs)
			}
		})
	}
}
