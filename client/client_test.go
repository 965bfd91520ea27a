package client_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	gitops "github.com/gitops-status/gitops-status"
	"github.com/gitops-status/gitops-status/client"
	"github.com/gitops-status/gitops-status/httpapi"
	"github.com/gitops-status/gitops-status/sqlite"
)

// newAPI returns the real HTTP API over a real SQLite store.
func newAPI(tb testing.TB) http.Handler {
	tb.Helper()
	st, err := sqlite.Open(filepath.Join(tb.TempDir(), "status.db"), gitops.StoreOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	return httpapi.New(httpapi.Config{Store: st, Version: "test"}).Handler()
}

// counting wraps h and counts the requests it sees.
type counting struct {
	h http.Handler
	n atomic.Int64
}

func (c *counting) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.n.Add(1)
	c.h.ServeHTTP(w, r)
}

func newClient(tb testing.TB, h http.Handler, opts ...client.Option) *client.Client {
	tb.Helper()
	srv := httptest.NewServer(h)
	tb.Cleanup(srv.Close)
	c, err := client.New(srv.URL, opts...)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

func TestClient_everyEndpoint(t *testing.T) {
	ctx := context.Background()
	c := newClient(t, newAPI(t))

	rec, err := c.Pipeline(ctx, client.PipelineReport{
		ServerGroup: "rsyslog-prod", Host: "rsyslog-01", Status: gitops.StatusSynced,
		ProjectName: "gitops-for-servers", RepoName: "rsyslog", ServerType: "rsyslog", Environment: "prod",
		ChangedFiles: []string{"/etc/rsyslog.conf"}, ValidationStatus: gitops.ValidationPassed,
		ValidationMessage: "ok", CommitSHA: "abc1234", Branch: "master", UpdatedBy: "woodpecker",
		Labels: map[string]string{"dc": "fra1"}, StaleAfter: "30m",
	})
	if err != nil {
		t.Fatalf("Pipeline: %v", err)
	}
	s := rec.Server
	if s.CommitSHA != "abc1234" || s.LastSource != gitops.SourcePipeline || s.Labels["dc"] != "fra1" ||
		s.StaleAfter != "30m" || s.LastPipelineRun.IsZero() || !reflect.DeepEqual(s.ChangedFiles, []string{"/etc/rsyslog.conf"}) {
		t.Fatalf("stored record = %+v", s)
	}
	if !strings.Contains(string(rec.JSON), `"changed_files_count":1`) {
		t.Fatalf("Record.JSON is not the server's answer: %s", rec.JSON)
	}

	rec, err = c.Cron(ctx, client.CronReport{ServerGroup: "rsyslog-prod", Host: "rsyslog-01",
		Status: gitops.StatusOutOfSync, ChangedFiles: []string{"/etc/a", "/etc/b"}})
	if err != nil {
		t.Fatalf("Cron: %v", err)
	}
	if s := rec.Server; s.Status != gitops.StatusOutOfSync || s.CommitSHA != "abc1234" || s.PipelineStatus != gitops.StatusSynced || len(s.ChangedFiles) != 2 {
		t.Fatalf("after cron: %+v", s)
	}
	// An out-of-order cron report is answered with the record and a warning.
	rec, err = c.Cron(ctx, client.CronReport{ServerGroup: "rsyslog-prod", Host: "rsyslog-01", Status: gitops.StatusSynced,
		ReportedAt: gitops.Time{Time: time.Now().Add(-time.Hour)}})
	if err != nil || len(rec.Warnings) != 1 || rec.Server.Status != gitops.StatusOutOfSync {
		t.Fatalf("late cron report: %v, warnings %q, status %s", err, rec.Warnings, rec.Server.Status)
	}

	if _, err := c.Pipeline(ctx, client.PipelineReport{ServerGroup: "nginx-prod", Host: "web-01", Status: gitops.StatusFailed, Environment: "prod"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Pipeline(ctx, client.PipelineReport{ServerGroup: "nginx-prod", Host: "web-02", Status: gitops.StatusSynced, Environment: "staging"}); err != nil {
		t.Fatal(err)
	}

	got, err := c.Get(ctx, "rsyslog-prod", "rsyslog-01")
	if err != nil || got.Server.Status != gitops.StatusOutOfSync {
		t.Fatalf("Get: %v, %+v", err, got)
	}

	page, err := c.List(ctx, gitops.Filter{Environment: []string{"prod"}, Limit: 1, Offset: 1})
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if page.Total != 2 || len(page.Servers) != 1 || page.Servers[0].Key() != (gitops.Key{ServerGroup: "rsyslog-prod", Host: "rsyslog-01"}) {
		t.Fatalf("List(prod, limit 1, offset 1) = total %d, %v", page.Total, page.Servers)
	}
	page, err = c.List(ctx, gitops.Filter{Status: []gitops.Status{gitops.StatusFailed, gitops.StatusOutOfSync}})
	if err != nil || page.Total != 2 {
		t.Fatalf("List(failed OR out_of_sync) = %v, %+v", err, page)
	}
	page, err = c.Group(ctx, "nginx-prod", gitops.Filter{})
	if err != nil || page.Total != 2 || page.Servers[1].Host != "web-02" {
		t.Fatalf("Group: %v, %+v", err, page)
	}
	var ae *client.Error
	if _, err := c.Group(ctx, "nope", gitops.Filter{}); !errors.As(err, &ae) || ae.StatusCode != 404 || gitops.ErrorCode(err) != gitops.ENOTFOUND {
		t.Fatalf("Group(nope) error = %v, want a 404 *client.Error", err)
	}

	hist, err := c.History(ctx, "rsyslog-prod", "rsyslog-01", gitops.EventFilter{})
	if err != nil || len(hist) != 2 || hist[0].Status != gitops.StatusOutOfSync || hist[1].PreviousStatus != "" {
		t.Fatalf("History: %v, %+v", err, hist)
	}
	evs, err := c.Events(ctx, gitops.EventFilter{ServerGroup: []string{"nginx-prod"}, Limit: 1})
	if err != nil || len(evs) != 1 || evs[0].Host != "web-02" {
		t.Fatalf("Events: %v, %+v", err, evs)
	}
	sum, err := c.Summary(ctx)
	if err != nil || sum.Total != 3 || sum.ByStatus[gitops.StatusFailed] != 1 || sum.ByGroup["nginx-prod"][gitops.StatusSynced] != 1 {
		t.Fatalf("Summary: %v, %+v", err, sum)
	}
	info, err := c.Info(ctx)
	if err != nil || info.APIVersion != "2.0" || info.Version != "test" || len(info.Endpoints) == 0 {
		t.Fatalf("Info: %v, %+v", err, info)
	}
	if err := c.Health(ctx); err != nil {
		t.Fatalf("Health: %v", err)
	}
	if err := c.Ready(ctx); err != nil {
		t.Fatalf("Ready: %v", err)
	}

	lr, err := c.LegacyPost(ctx, gitops.V1Status{Repo: "rsyslog", Server: "rsyslog-lab", SyncStatus: "DRIFTED", DriftedFiles: []string{"/etc/x"}})
	if err != nil || lr.Status.SyncStatus != "OUT_OF_SYNC" || lr.Status.DriftCount != 1 {
		t.Fatalf("LegacyPost: %v, %+v", err, lr)
	}
	v1, err := c.LegacyGet(ctx, "")
	if err != nil || v1.Server != "rsyslog-lab" || v1.LastCheck.IsZero() {
		t.Fatalf("LegacyGet: %v, %+v", err, v1)
	}

	if err := c.Delete(ctx, "nginx-prod", "web-01"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := c.Get(ctx, "nginx-prod", "web-01"); !errors.As(err, &ae) || ae.StatusCode != 404 || !strings.Contains(ae.Message, "not found") {
		t.Fatalf("Get after Delete = %v, want 404", err)
	}
}

func TestClient_refusalCarriesTheServersSentence(t *testing.T) {
	api := &counting{h: newAPI(t)}
	c := newClient(t, api, client.WithRetry(client.RetryPolicy{Attempts: 5, InitialDelay: time.Millisecond}))
	_, err := c.Pipeline(context.Background(), client.PipelineReport{ServerGroup: "g", Host: "h", Status: "green"})
	var ae *client.Error
	if !errors.As(err, &ae) {
		t.Fatalf("error = %v, want *client.Error", err)
	}
	if ae.StatusCode != 400 || ae.Field != "status" || !strings.Contains(ae.Message, `status "green" is not one of "synced"`) || ae.RequestID == "" {
		t.Fatalf("error = %+v", ae)
	}
	if gitops.ErrorCode(err) != gitops.EINVALID || gitops.ErrorField(err) != "status" || client.Temporary(err) {
		t.Fatalf("domain view of %v: code %q field %q temporary %v", err, gitops.ErrorCode(err), gitops.ErrorField(err), client.Temporary(err))
	}
	if n := api.n.Load(); n != 1 {
		t.Fatalf("a 400 was sent %d times; a 4xx must never be retried", n)
	}
}

func TestClient_sendsToken(t *testing.T) {
	var got atomic.Value
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.Store(r.Header.Get("Authorization"))
		w.Write([]byte(`{"status":"ok"}`))
	})
	if err := newClient(t, h, client.WithToken("s3cret")).Health(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got.Load() != "Bearer s3cret" {
		t.Fatalf("Authorization = %q", got.Load())
	}
}

func TestNew_refusesBadURLs(t *testing.T) {
	for _, u := range []string{"", "localhost:5000", "ftp://x", "http://", "http://h/?a=b", "http://h/#x"} {
		if _, err := client.New(u); err == nil {
			t.Errorf("New(%q) = nil error", u)
		}
	}
	c, err := client.New("https://ops.example/gitops-status/")
	if err != nil || c.URL() != "https://ops.example/gitops-status" {
		t.Fatalf("New with a path prefix: %v, %q", err, c.URL())
	}
}
