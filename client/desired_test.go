package client_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	gitops "github.com/gitops-status/gitops-status"
	"github.com/gitops-status/gitops-status/client"
)

func TestClient_heads(t *testing.T) {
	ctx := context.Background()
	c := newClient(t, newAPI(t))
	if _, err := c.Pipeline(ctx, client.PipelineReport{ServerGroup: "g", Host: "h", Status: gitops.StatusSynced,
		RepoName: "rsyslog", Branch: "release/2.x", CommitSHA: "aaaaaaa"}); err != nil {
		t.Fatal(err)
	}
	a, err := c.SetHead(ctx, client.HeadReport{RepoName: "org/rsyslog", Branch: "release/2.x", CommitSHA: "BBBBBBB", UpdatedBy: "ci"})
	if err != nil || a.Head.CommitSHA != "bbbbbbb" || a.Head.UpdatedAt.IsZero() || len(a.Warnings) != 0 {
		t.Fatalf("SetHead = %+v, %v; want the stored head, lower-cased", a, err)
	}
	old := time.Now().Add(-time.Hour)
	if _, err := c.SetHead(ctx, client.HeadReport{RepoName: "org/rsyslog", Branch: "release/2.x", CommitSHA: "ccccccc", ReportedAt: gitops.Time{Time: time.Now()}}); err != nil {
		t.Fatal(err)
	}
	a, err = c.SetHead(ctx, client.HeadReport{RepoName: "org/rsyslog", Branch: "release/2.x", CommitSHA: "ddddddd", ReportedAt: gitops.Time{Time: old}})
	if err != nil || a.Head.CommitSHA != "ccccccc" || len(a.Warnings) != 1 {
		t.Fatalf("an older report: %+v, %v; want the unchanged head and a warning", a, err)
	}
	yes := true
	p, err := c.List(ctx, gitops.Filter{Behind: &yes})
	if err != nil || p.Total != 1 || !p.Servers[0].Desired.Behind || p.Servers[0].Desired.CommitSHA != "ccccccc" {
		t.Fatalf("List(behind=true) = %+v, %v", p, err)
	}
	if s, err := c.Summary(ctx); err != nil || s.Behind != 1 {
		t.Fatalf("Summary = %+v, %v; want behind 1", s, err)
	}
	hs, err := c.Heads(ctx)
	if err != nil || len(hs) != 1 || hs[0].RepoName != "org/rsyslog" || hs[0].Branch != "release/2.x" {
		t.Fatalf("Heads = %+v, %v", hs, err)
	}
	// Names with '/' travel as %2F.
	if err := c.DeleteHead(ctx, "org/rsyslog", "release/2.x"); err != nil {
		t.Fatal(err)
	}
	var ae *client.Error
	if err := c.DeleteHead(ctx, "org/rsyslog", "release/2.x"); !errors.As(err, &ae) || ae.StatusCode != http.StatusNotFound {
		t.Fatalf("deleting it again: %v, want a 404", err)
	}
	if _, err := c.SetHead(ctx, client.HeadReport{RepoName: "r", Branch: "b", CommitSHA: "not-hex"}); !errors.As(err, &ae) || ae.StatusCode != http.StatusBadRequest {
		t.Fatalf("a bad commit: %v, want a 400", err)
	}
}
