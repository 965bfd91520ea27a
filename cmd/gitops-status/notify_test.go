package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gitops-status/gitops-status/postgres/pgtest"
)

// fastNotify makes the served binary poll and retry in milliseconds.
const fastNotify = "GITOPS_STATUS_TEST_NOTIFY_TIMING=poll=50ms,sweep=100ms,first-retry=50ms,max-retry=300ms,request=2s,lease=3s"

// hookReceiver records what a webhook receiver started by the test takes;
// while down it answers 503 and keeps nothing.
type hookReceiver struct {
	srv    *httptest.Server
	secret string
	down   atomic.Bool
	mu     sync.Mutex
	got    []hookDelivery
	bad    []string // why a request was wrong
}

type hookDelivery struct {
	key, host string
	id        int64
}

func newHookReceiver(t *testing.T, secret string) *hookReceiver {
	t.Helper()
	rc := &hookReceiver{secret: secret}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if rc.down.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		body, _ := io.ReadAll(r.Body)
		mac := hmac.New(sha256.New, []byte(rc.secret))
		mac.Write(body)
		want := "sha256=" + hex.EncodeToString(mac.Sum(nil))
		var rec struct {
			ID   int64  `json:"id"`
			Host string `json:"host"`
		}
		rc.mu.Lock()
		defer rc.mu.Unlock()
		if !hmac.Equal([]byte(r.Header.Get("X-GitOps-Status-Signature")), []byte(want)) {
			rc.bad = append(rc.bad, "bad signature on "+string(body))
		}
		if err := json.Unmarshal(body, &rec); err != nil {
			rc.bad = append(rc.bad, "not JSON: "+string(body))
		}
		rc.got = append(rc.got, hookDelivery{key: r.Header.Get("Idempotency-Key"), host: rec.Host, id: rec.ID})
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *hookReceiver) deliveries() []hookDelivery {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return slices.Clone(rc.got)
}

func writeWebhooksFile(t *testing.T, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestNotificationsSurviveKill9(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		dir := t.TempDir()
		testNotifyKill9(t, nil, "--data-dir", dir)
	})
	t.Run("postgres", func(t *testing.T) {
		url := pgtest.NewDatabase(t)
		testNotifyKill9(t, []string{"GITOPS_STATUS_DATABASE_URL=" + url}, "--data-dir", t.TempDir())
	})
}

// testNotifyKill9 drives servers through drift, failure and recovery while
// the receiver is up, then down, across a kill -9 and a restart: every
// matching event arrives, signed, once at least, in order per server.
func testNotifyKill9(t *testing.T, env []string, args ...string) {
	rc := newHookReceiver(t, "hmac-key")
	hooks := filepath.Join(t.TempDir(), "webhooks.yaml")
	writeWebhooksFile(t, hooks, fmt.Sprintf(`webhooks:
  - name: receiver
    url: %s/hook
    secret: hmac-key
    on: [out_of_sync, failed, validation_failed, synced]
`, rc.srv.URL))
	env = append(env, fastNotify)
	args = append(args, "--webhooks-file", hooks)
	p := startServe(t, env, args...)
	defer p.kill()

	hosts := []string{"a", "b", "c"}
	drive := func(url string, statuses ...string) {
		t.Helper()
		for _, st := range statuses {
			for _, h := range hosts {
				body := fmt.Sprintf(`{"server_group":"web","host":%q,"status":%q}`, h, st)
				if code, _ := post(t, url+"/status/cron", body); code != 200 {
					t.Fatalf("cron %s %s: %d", h, st, code)
				}
			}
		}
	}
	drive(p.URL, "synced", "out_of_sync", "failed", "synced")
	rc.down.Store(true)
	drive(p.URL, "out_of_sync", "failed")
	if !p.logged("delivery failed; will retry") {
		t.Fatalf("no failed delivery logged while the receiver was down\n%s", p.stderr)
	}
	p.cmd.Process.Signal(syscall.SIGKILL)
	p.wait(10 * time.Second)

	q := startServe(t, env, args...)
	defer q.kill()
	drive(q.URL, "synced")
	time.Sleep(200 * time.Millisecond) // a few failed attempts more
	rc.down.Store(false)

	// Expected: every event that is a transition the webhook wants.
	var events []struct {
		ID             int64  `json:"id"`
		Host           string `json:"host"`
		Status         string `json:"status"`
		PreviousStatus string `json:"previous_status"`
	}
	getJSON(t, q.URL+"/events?limit=1000", &events)
	want := map[string][]int64{}
	for i := len(events) - 1; i >= 0; i-- {
		ev := events[i]
		if ev.PreviousStatus == "" || ev.PreviousStatus == ev.Status {
			continue // new synced servers
		}
		want[ev.Host] = append(want[ev.Host], ev.ID)
	}
	for _, h := range hosts {
		if len(want[h]) != 6 {
			t.Fatalf("%s has %d transitions, want 6: %+v", h, len(want[h]), events)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		got := map[string][]int64{}
		for _, d := range rc.deliveries() {
			if n := len(got[d.host]); n == 0 || got[d.host][n-1] != d.id { // an at-least-once repeat counts once
				got[d.host] = append(got[d.host], d.id)
			}
			if d.key != strconv.FormatInt(d.id, 10) {
				t.Fatalf("idempotency key %q for event %d", d.key, d.id)
			}
		}
		done := true
		for _, h := range hosts {
			if !slices.Equal(got[h], want[h]) {
				done = false
				if len(got[h]) >= len(want[h]) || !slices.Equal(got[h], want[h][:len(got[h])]) {
					t.Fatalf("%s: received events %v, want %v in that order", h, got[h], want[h])
				}
			}
		}
		if done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not every event arrived: got %v, want %v\n%s", got, want, q.stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if len(rc.bad) > 0 {
		t.Fatalf("bad deliveries: %q", rc.bad)
	}
	resp, err := client.Get(q.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	exp, _ := io.ReadAll(resp.Body)
	for _, want := range []string{`gitops_notify_deliveries_sent_total{webhook="receiver"}`, `gitops_notify_deliveries_failed_total{webhook="receiver"}`,
		`gitops_notify_deliveries_pending{webhook="receiver"}`, `gitops_notify_delivery_latency_seconds_count{webhook="receiver"}`} {
		if !strings.Contains(string(exp), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

func TestBadWebhooksFileRefusesToStart(t *testing.T) {
	hooks := filepath.Join(t.TempDir(), "webhooks.yaml")
	writeWebhooksFile(t, hooks, "webhooks:\n  - name: ops\n    url: https://x.example/h\n    on: [failed]\n    secret: abc\n    sever_groups: [x]\n")
	_, stderr, code := runBin(t, nil, "", "serve", "--data-dir", t.TempDir(), "--addr", "127.0.0.1:0", "--webhooks-file", hooks)
	if code == 0 {
		t.Fatal("serve started with a bad webhooks file")
	}
	line := strings.TrimSpace(stderr)
	if strings.Count(line, "\n") != 0 || !strings.Contains(line, "sever_groups") || !strings.Contains(line, hooks) || strings.Contains(line, "abc") {
		t.Fatalf("stderr %q: want one line naming the file and the bad key, without the secret", stderr)
	}
}

func TestWebhooksReloadOnSIGHUP(t *testing.T) {
	first := newHookReceiver(t, "")
	second := newHookReceiver(t, "k2")
	hooks := filepath.Join(t.TempDir(), "webhooks.yaml")
	file := func(url, secret string) string {
		return fmt.Sprintf("webhooks:\n  - name: ops\n    url: %s\n    on: [failed]\n    secret: %q\n", url, secret)
	}
	writeWebhooksFile(t, hooks, "webhooks:\n  - name: ops\n    url: "+first.srv.URL+"\n    on: [failed]\n")
	p := startServe(t, []string{fastNotify}, "--data-dir", t.TempDir(), "--webhooks-file", hooks)
	defer p.kill()
	post(t, p.URL+"/status/cron", `{"server_group":"web","host":"a","status":"failed"}`)
	waitDeliveries(t, first, 1)

	writeWebhooksFile(t, hooks, "webhooks: [oops")
	p.cmd.Process.Signal(syscall.SIGHUP)
	if !p.logged("webhooks not reloaded; the previous webhooks stay in force") {
		t.Fatalf("a bad file on SIGHUP was not logged\n%s", p.stderr)
	}
	writeWebhooksFile(t, hooks, file(second.srv.URL, "k2"))
	p.cmd.Process.Signal(syscall.SIGHUP)
	if !p.logged("SIGHUP: webhooks reloaded") {
		t.Fatalf("no reload logged\n%s", p.stderr)
	}
	post(t, p.URL+"/status/cron", `{"server_group":"web","host":"b","status":"failed"}`)
	waitDeliveries(t, second, 1)
	if d := second.deliveries()[0]; d.host != "b" {
		t.Errorf("the reloaded webhook got %+v", d)
	}
	second.mu.Lock()
	defer second.mu.Unlock()
	if len(second.bad) > 0 {
		t.Errorf("bad deliveries: %q", second.bad)
	}
	if n := len(first.deliveries()); n != 1 {
		t.Errorf("the old webhook got %d deliveries, want only the one before the reload", n)
	}
}

func waitDeliveries(t *testing.T, rc *hookReceiver, n int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for len(rc.deliveries()) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d deliveries, want %d", len(rc.deliveries()), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
