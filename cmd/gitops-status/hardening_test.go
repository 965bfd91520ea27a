package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// steadyWriters sends pipeline writes with token from n goroutines until
// stop closes, and returns how many were answered 200 and the first other
// outcome, if any.
func steadyWriters(t *testing.T, url, token string, n int, stop <-chan struct{}) (ok *atomic.Int64, bad *atomic.Value, wait func()) {
	ok, bad = &atomic.Int64{}, &atomic.Value{}
	var wg sync.WaitGroup
	for w := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &http.Client{Timeout: 10 * time.Second}
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				req, _ := http.NewRequest("POST", url+"/status/pipeline",
					strings.NewReader(pipelineBody("steady", fmt.Sprintf("h-%d", w), fmt.Sprintf("%040d", i))))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Authorization", token)
				resp, err := c.Do(req)
				if err != nil {
					bad.CompareAndSwap(nil, err.Error())
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == 200 {
					ok.Add(1)
				} else {
					bad.CompareAndSwap(nil, resp.Status)
				}
			}
		}()
	}
	return ok, bad, wg.Wait
}

func startHardened(t *testing.T, args ...string) (*proc, string) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "tokens.yaml")
	writeTokensFile(t, file, matrixTokens)
	p := startServe(t, nil, append([]string{"--data-dir", t.TempDir(), "--tokens-file", file}, args...)...)
	return p, matrixTokens[1].header // woodpecker: pipeline
}

// TestSlowClientsAreDropped opens connections that send their headers, or
// their body, a byte at a time (slowloris) while normal clients write: the
// slow ones are closed by --read-header-timeout and --read-timeout, and
// every normal write succeeds meanwhile.
func TestSlowClientsAreDropped(t *testing.T) {
	p, token := startHardened(t, "--read-header-timeout", "1s", "--read-timeout", "2s")
	addr := strings.TrimPrefix(p.URL, "http://")
	stop := make(chan struct{})
	ok, bad, wait := steadyWriters(t, p.URL, token, 4, stop)

	const slow = 40
	type result struct {
		kind   string
		closed time.Duration // how long until the server closed it
		err    error
	}
	results := make(chan result, slow)
	for i := range slow {
		go func() {
			kind := "headers"
			head := "POST /status/pipeline HTTP/1.1\r\nHost: x\r\n"
			if i%2 == 1 {
				kind = "body"
				head += "Content-Type: application/json\r\nAuthorization: " + token + "\r\nContent-Length: 100000\r\n\r\n"
			}
			start := time.Now()
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				results <- result{kind: kind, err: err}
				return
			}
			defer conn.Close()
			conn.Write([]byte(head))
			// Trickle a byte every 200 ms until the server hangs up, at
			// most 15 s (the test's own bound, far above the timeouts).
			closed := make(chan struct{})
			go func() {
				conn.SetReadDeadline(time.Now().Add(15 * time.Second))
				io.Copy(io.Discard, bufio.NewReader(conn))
				close(closed)
			}()
			tick := time.NewTicker(200 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-closed:
					results <- result{kind: kind, closed: time.Since(start)}
					return
				case <-tick.C:
					if kind == "headers" {
						conn.Write([]byte("X"))
					} else {
						conn.Write([]byte("{"))
					}
				}
			}
		}()
	}
	var worst time.Duration
	for range slow {
		r := <-results
		if r.err != nil {
			t.Fatal(r.err)
		}
		if r.closed >= 15*time.Second {
			t.Errorf("a slow %s client was still connected after 15s", r.kind)
		}
		worst = max(worst, r.closed)
	}
	close(stop)
	wait()
	if b := bad.Load(); b != nil || ok.Load() < 10 {
		t.Fatalf("normal writes during the slow clients: %d ok, first failure %v", ok.Load(), b)
	}
	t.Logf("%d slow clients dropped, the last after %v; %d normal writes succeeded meanwhile", slow, worst, ok.Load())
}

// TestOversizedRequestsFlood sends 2 MiB bodies (with and without a
// Content-Length) and 100 KiB headers from several clients while normal
// clients write: the flood gets 413 and 431 and stores nothing, the
// normal writes all succeed.
func TestOversizedRequestsFlood(t *testing.T) {
	p, token := startHardened(t)
	stop := make(chan struct{})
	ok, bad, wait := steadyWriters(t, p.URL, token, 4, stop)

	big := `{"server_group":"flood","host":"h","status":"synced","validation_message":"` + strings.Repeat("x", 2<<20) + `"}`
	var codes sync.Map // status → *atomic.Int64
	count := func(code int) {
		v, _ := codes.LoadOrStore(code, &atomic.Int64{})
		v.(*atomic.Int64).Add(1)
	}
	var wg sync.WaitGroup
	deadline := time.Now().Add(3 * time.Second)
	for i := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &http.Client{Timeout: 10 * time.Second}
			for time.Now().Before(deadline) {
				var body io.Reader = strings.NewReader(big)
				if i%3 == 1 {
					body = io.MultiReader(strings.NewReader(big)) // no length: chunked
				}
				req, _ := http.NewRequest("POST", p.URL+"/status/pipeline", body)
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Authorization", token)
				if i%3 == 2 {
					req, _ = http.NewRequest("GET", p.URL+"/health", nil)
					req.Header.Set("X-Padding", strings.Repeat("p", 100<<10))
				}
				resp, err := c.Do(req)
				if err != nil {
					count(0) // the server may close before the client finished sending
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				count(resp.StatusCode)
			}
		}()
	}
	wg.Wait()
	close(stop)
	wait()

	summary := map[int]int64{}
	codes.Range(func(k, v any) bool { summary[k.(int)] = v.(*atomic.Int64).Load(); return true })
	for code := range summary {
		if code != 0 && code != http.StatusRequestEntityTooLarge && code != http.StatusRequestHeaderFieldsTooLarge {
			t.Errorf("an oversized request was answered %d (all: %v)", code, summary)
		}
	}
	if summary[http.StatusRequestEntityTooLarge] == 0 || summary[http.StatusRequestHeaderFieldsTooLarge] == 0 {
		t.Fatalf("no 413 or no 431 seen: %v", summary)
	}
	if b := bad.Load(); b != nil || ok.Load() < 10 {
		t.Fatalf("normal writes during the flood: %d ok, first failure %v", ok.Load(), b)
	}
	if code, _, _ := request(t, "GET", p.URL+"/status/flood", "", matrixTokens[0].header); code != 404 {
		t.Fatalf("GET /status/flood = %d: an oversized body was stored", code)
	}
	t.Logf("flood answers %v; %d normal writes succeeded meanwhile", summary, ok.Load())
}
