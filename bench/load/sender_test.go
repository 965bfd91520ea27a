package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestConnSender drives connSender against a real net/http server: what
// the service sees must be the request net/http's client would send, and
// every answer must be read whole, however it is framed, or the next
// request on the connection would read the rest of it.
func TestConnSender(t *testing.T) {
	var (
		mu    sync.Mutex
		conns = map[string]bool{} // remote addresses seen
		got   []cronBody
	)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		conns[r.RemoteAddr] = true
		mu.Unlock()
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" || r.Header.Get("Authorization") != "Bearer s3cret" {
			http.Error(w, "bad request line or headers: "+r.Method+" "+r.Header.Get("Content-Type")+" "+r.Header.Get("Authorization"), http.StatusTeapot)
			return
		}
		var b cronBody
		if err := json.NewDecoder(r.Body).Decode(&b); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		got = append(got, b)
		mu.Unlock()
		switch r.URL.Path {
		case "/chunked": // no Content-Length: net/http chunks it
			w.Write([]byte(strings.Repeat("x", 3000)))
			w.(http.Flusher).Flush()
			w.Write([]byte(strings.Repeat("y", 3000)))
		case "/close":
			w.Header().Set("Connection", "close")
			w.Write([]byte(`{"ok":true}`))
		case "/refuse":
			http.Error(w, `{"error":"refused"}`, http.StatusBadRequest)
		default:
			w.Header().Set("Content-Length", "11")
			w.Write([]byte(`{"ok":true}`))
		}
	})
	srv := httptest.NewServer(h)
	defer srv.Close()

	s, err := newConnSender(srv.URL, "Bearer s3cret", 4, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := range 5 {
		path := []string{"/status/cron", "/chunked", "/status/cron", "/chunked", "/status/cron"}[i]
		if err := s.post(ctx, path, newCronBody(i, i%2 == 0)); err != nil {
			t.Fatalf("post %d to %s: %v", i, path, err)
		}
	}
	mu.Lock()
	if len(conns) != 1 {
		t.Errorf("five requests in turn used %d connections, want 1 kept alive", len(conns))
	}
	if len(got) != 5 || got[4].Host != hostOf(4) || got[1].Status != "synced" || got[0].Status == "synced" {
		t.Errorf("the server read %+v", got)
	}
	mu.Unlock()

	// Connection: close is honoured: the next request dials again.
	if err := s.post(ctx, "/close", newCronBody(0, false)); err != nil {
		t.Fatal(err)
	}
	if err := s.post(ctx, "/status/cron", newCronBody(0, false)); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	if len(conns) != 2 {
		t.Errorf("after an answer with Connection: close, %d connections seen, want 2", len(conns))
	}
	mu.Unlock()

	// A refusal is an error naming the answer.
	err = s.post(ctx, "/refuse", newCronBody(0, false))
	var se *statusError
	if !errors.As(err, &se) || se.code != http.StatusBadRequest || !strings.Contains(se.body, "refused") {
		t.Errorf("a 400 answer gave %v, want a statusError with its body", err)
	}

	// Concurrent requests each get a connection of their own.
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		wg.Go(func() { errs <- s.post(ctx, "/status/cron", newCronBody(i, false)) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if n := len(s.idle); n < 1 || n > 4 {
		t.Errorf("%d idle connections kept, want 1 to 4", n)
	}
	s.closeIdle()
	if n := len(s.idle); n != 0 {
		t.Errorf("%d idle connections left after closeIdle", n)
	}
}

// TestConnSenderServerGone: a connection the server closed fails the
// request on it, and is not used again.
func TestConnSenderServerGone(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			// Read the request, then hang up without answering.
			buf := make([]byte, 4096)
			c.Read(buf)
			c.Close()
		}
	}()
	s, err := newConnSender("http://"+ln.Addr().String(), "", 2, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	err = s.post(context.Background(), "/status/cron", newCronBody(0, false))
	if err == nil || !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) && !strings.Contains(err.Error(), "reset") {
		t.Errorf("an unanswered request gave %v, want an EOF or reset error", err)
	}
	if n := len(s.idle); n != 0 {
		t.Errorf("%d connections kept after a failure, want 0", n)
	}
	if _, err := newConnSender("https://example.com", "", 1, time.Second); err == nil {
		t.Error("an https:// address was accepted")
	}
}
