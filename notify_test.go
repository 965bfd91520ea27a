package gitops_test

import (
	"slices"
	"testing"

	gitops "github.com/gitops-status/gitops-status"
)

func TestTriggersOf(t *testing.T) {
	ch := func(cs ...gitops.Change) []gitops.Change { return cs }
	tests := []struct {
		name string
		ev   gitops.Event
		want []gitops.Trigger
	}{
		{"new synced server", gitops.Event{Status: "synced", Changes: ch("created")}, nil},
		{"new out_of_sync server", gitops.Event{Status: "out_of_sync", Changes: ch("created")}, []gitops.Trigger{"out_of_sync"}},
		{"new failed server", gitops.Event{Status: "failed", Changes: ch("created")}, []gitops.Trigger{"failed"}},
		{"drift", gitops.Event{PreviousStatus: "synced", Status: "out_of_sync", Changes: ch("status")}, []gitops.Trigger{"out_of_sync"}},
		{"failure", gitops.Event{PreviousStatus: "out_of_sync", Status: "failed", Changes: ch("status")}, []gitops.Trigger{"failed"}},
		{"recovery from drift", gitops.Event{PreviousStatus: "out_of_sync", Status: "synced", Changes: ch("status")}, []gitops.Trigger{"synced"}},
		{"recovery from failure", gitops.Event{PreviousStatus: "failed", Status: "synced", Changes: ch("status")}, []gitops.Trigger{"synced"}},
		{"unknown to synced is no recovery", gitops.Event{PreviousStatus: "unknown", Status: "synced", Changes: ch("status")}, nil},
		{"new commit, still failed", gitops.Event{PreviousStatus: "failed", Status: "failed", Changes: ch("commit_sha")}, nil},
		{"drifted files change", gitops.Event{PreviousStatus: "out_of_sync", Status: "out_of_sync", Changes: ch("changed_files")}, nil},
		{"validation fails", gitops.Event{PreviousStatus: "synced", Status: "synced", ValidationStatus: "failed", Changes: ch("validation_status")}, []gitops.Trigger{"validation_failed"}},
		{"validation still failed", gitops.Event{PreviousStatus: "synced", Status: "synced", ValidationStatus: "failed", Changes: ch("commit_sha")}, nil},
		{"failed and validation failed", gitops.Event{PreviousStatus: "synced", Status: "failed", ValidationStatus: "failed", Changes: ch("status", "validation_status")}, []gitops.Trigger{"failed", "validation_failed"}},
		{"sweep: stale", gitops.Event{Source: "sweep", PreviousStatus: "synced", Status: "synced", Changes: ch("stale")}, []gitops.Trigger{"stale"}},
		{"sweep: fresh", gitops.Event{Source: "sweep", PreviousStatus: "synced", Status: "synced", Changes: ch("fresh")}, []gitops.Trigger{"stale"}},
		// A head moving (another branch's desired event) names no server.
		{"desired event", gitops.Event{Source: "git", Status: "", Changes: ch("created")}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := tt.ev
			if ev.Source != "git" {
				ev.ServerGroup, ev.Host = "web", "a"
			}
			if got := gitops.TriggersOf(&ev); !slices.Equal(got, tt.want) {
				t.Fatalf("TriggersOf = %q, want %q", got, tt.want)
			}
			if got, want := gitops.Notifiable(&ev), len(tt.want) > 0; got != want {
				t.Fatalf("Notifiable = %v, want %v", got, want)
			}
		})
	}
}
