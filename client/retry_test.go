package client_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	gitops "github.com/gitops-status/gitops-status"
	"github.com/gitops-status/gitops-status/client"
)

var fast = client.RetryPolicy{Attempts: 5, InitialDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond}

// failing answers its first n requests with fail, then passes to the real API.
func failing(tb testing.TB, n int64, fail http.HandlerFunc) *counting {
	api := newAPI(tb)
	var seen atomic.Int64
	return &counting{h: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if seen.Add(1) <= n {
			fail(w, r)
			return
		}
		api.ServeHTTP(w, r)
	})}
}

func report() client.CronReport {
	return client.CronReport{ServerGroup: "g", Host: "h", Status: gitops.StatusSynced}
}

func TestRetry_transientAnswers(t *testing.T) {
	tests := []struct {
		name string
		fail http.HandlerFunc
	}{
		{"503 from the API", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(503)
			w.Write([]byte(`{"error":"database unavailable: connection refused"}`))
		}},
		{"502 from a proxy", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(502)
			w.Write([]byte("<html>bad gateway</html>"))
		}},
		{"429", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(429) }},
		{"connection cut", func(w http.ResponseWriter, r *http.Request) { panic(http.ErrAbortHandler) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := failing(t, 2, tt.fail)
			c := newClient(t, h, client.WithRetry(fast))
			rec, err := c.Cron(context.Background(), report())
			if err != nil {
				t.Fatalf("Cron after two transient failures: %v", err)
			}
			if rec.Server.Status != gitops.StatusSynced || h.n.Load() != 3 {
				t.Fatalf("status %s after %d requests, want synced after 3", rec.Server.Status, h.n.Load())
			}
		})
	}
}

func TestRetry_givesUpWithTheLastAnswer(t *testing.T) {
	h := failing(t, 100, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(503)
		w.Write([]byte(`{"error":"database unavailable: connection refused"}`))
	})
	c := newClient(t, h, client.WithRetry(client.RetryPolicy{Attempts: 3, InitialDelay: time.Millisecond}))
	_, err := c.Cron(context.Background(), report())
	var ae *client.Error
	if !errors.As(err, &ae) || ae.StatusCode != 503 || ae.Attempts != 3 || ae.Message != "database unavailable: connection refused" {
		t.Fatalf("error = %#v", err)
	}
	if !client.Temporary(err) || h.n.Load() != 3 {
		t.Fatalf("temporary %v after %d requests", client.Temporary(err), h.n.Load())
	}
}

func TestRetry_neverOn4xx(t *testing.T) {
	for _, code := range []int{400, 401, 403, 404, 405, 409, 413, 415} {
		h := failing(t, 100, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("WWW-Authenticate", "Bearer")
			w.WriteHeader(code)
			w.Write([]byte(`{"error":"refused on purpose"}`))
		})
		c := newClient(t, h, client.WithRetry(fast))
		_, err := c.Cron(context.Background(), report())
		var ae *client.Error
		if !errors.As(err, &ae) || ae.StatusCode != code || ae.Message != "refused on purpose" || client.Temporary(err) {
			t.Fatalf("%d: error = %v", code, err)
		}
		if h.n.Load() != 1 {
			t.Fatalf("%d was sent %d times", code, h.n.Load())
		}
	}
}

func TestRetry_honoursRetryAfter(t *testing.T) {
	h := failing(t, 1, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "1")
		w.WriteHeader(429)
	})
	c := newClient(t, h, client.WithRetry(fast))
	start := time.Now()
	if _, err := c.Cron(context.Background(), report()); err != nil {
		t.Fatal(err)
	}
	// A lower bound only: waiting less than the server asked is the bug.
	if waited := time.Since(start); waited < time.Second {
		t.Fatalf("retried after %s; the server asked for 1s", waited)
	}
}

func TestRetry_retryAfterBeyondTheDeadlineGivesUpAtOnce(t *testing.T) {
	h := failing(t, 100, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "3600")
		w.WriteHeader(503)
	})
	c := newClient(t, h, client.WithRetry(client.RetryPolicy{}))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := c.Cron(ctx, report())
	var ae *client.Error
	if !errors.As(err, &ae) || ae.StatusCode != 503 || h.n.Load() != 1 || ctx.Err() != nil {
		t.Fatalf("error %v after %d requests (context %v); want the 503 at once", err, h.n.Load(), ctx.Err())
	}
}

// closedAddr returns a loopback address nothing listens on.
func closedAddr(tb testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func TestRetry_unreachable(t *testing.T) {
	c, err := client.New("http://"+closedAddr(t), client.WithRetry(client.RetryPolicy{Attempts: 3, InitialDelay: time.Millisecond}))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Cron(context.Background(), report())
	var ue *client.UnreachableError
	if !errors.As(err, &ue) || ue.Attempts != 3 || !errors.Is(err, syscall.ECONNREFUSED) || !client.Temporary(err) {
		t.Fatalf("error = %v", err)
	}
}

func TestRetry_deadlineBoundsUnlimitedAttempts(t *testing.T) {
	c, err := client.New("http://"+closedAddr(t), client.WithRetry(client.RetryPolicy{InitialDelay: 10 * time.Millisecond, MaxDelay: 20 * time.Millisecond}))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err = c.Cron(ctx, report())
	var ue *client.UnreachableError
	// The error says why the server could not be reached, not merely that
	// time ran out.
	if !errors.As(err, &ue) || ue.Attempts < 2 || !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("error = %v", err)
	}
}

func TestRetry_attemptTimeout(t *testing.T) {
	release := make(chan struct{})
	h := failing(t, 1, func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		<-release
	})
	c := newClient(t, h, client.WithRetry(client.RetryPolicy{Attempts: 2, InitialDelay: time.Millisecond, AttemptTimeout: 200 * time.Millisecond}))
	t.Cleanup(func() { close(release) }) // before the server's Close, which waits for the handler
	if _, err := c.Cron(context.Background(), report()); err != nil || h.n.Load() != 2 {
		t.Fatalf("a hung first attempt: %v after %d requests", err, h.n.Load())
	}
}

func TestRetry_canceledContextStops(t *testing.T) {
	c, err := client.New("http://"+closedAddr(t), client.WithRetry(client.RetryPolicy{InitialDelay: time.Hour}))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	if _, err := c.Cron(ctx, report()); err == nil {
		t.Fatal("a canceled report succeeded")
	}
}

func TestRetry_untrustedCertificateIsNotRetried(t *testing.T) {
	h := &counting{h: newAPI(t)}
	srv := httptest.NewTLSServer(h)
	t.Cleanup(srv.Close)
	c, err := client.New(srv.URL, client.WithRetry(client.RetryPolicy{}))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err = c.Cron(ctx, report())
	var ue *client.UnreachableError
	if !errors.As(err, &ue) || ue.Attempts != 1 || client.Temporary(err) || ctx.Err() != nil {
		t.Fatalf("error %v (temporary %v, context %v), want one attempt and a permanent error", err, client.Temporary(err), ctx.Err())
	}
	// Trusting the server's CA makes it work.
	c, _ = client.New(srv.URL, client.WithHTTPClient(srv.Client()))
	if _, err := c.Cron(ctx, report()); err != nil {
		t.Fatal(err)
	}
}
