//go:build unix

package httpapi_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"syscall"
	"testing"
	"time"

	gitops "github.com/gitops-status/gitops-status"
	"github.com/gitops-status/gitops-status/httpapi"
)

// TestWriteTimeoutPerChunk serves GET /status for 10,000 servers (~8 MB)
// with a 3 s write timeout applied as serve applies its own: a client that reads steadily
// but needs several seconds gets the whole answer, and one that stops
// reading is dropped. The client's receive buffer is made small so the
// kernel cannot take the answer in its stead.
func TestWriteTimeoutPerChunk(t *testing.T) {
	if testing.Short() {
		t.Skip("reads 8 MB slowly")
	}
	// Long enough that a steady reader on a loaded machine (CI, the race
	// detector) always gets its next chunk within it: each chunk's window
	// is 20 times the reader's pause.
	const timeout = 3 * time.Second
	st := mustOpenStore(t, gitops.StoreOptions{})
	fillServers(t, st, 10000)
	srv := &http.Server{
		Handler:      httpapi.New(httpapi.Config{Store: st, WriteTimeout: timeout}).Handler(),
		WriteTimeout: timeout,
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	client := &http.Client{Transport: &http.Transport{
		DisableCompression: true,
		DialContext: (&net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
			return c.Control(func(fd uintptr) {
				_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 32<<10)
			})
		}}).DialContext,
	}}
	get := func() *http.Response {
		t.Helper()
		req, _ := http.NewRequestWithContext(context.Background(), "GET", "http://"+ln.Addr().String()+"/status", nil)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}

	// Steady: 256 KiB every 150 ms, about 5 s for the answer, longer than
	// the write timeout: only a deadline moved ahead per chunk lets it through.
	resp := get()
	start := time.Now()
	var body []byte
	buf := make([]byte, 256<<10)
	for {
		n, err := io.ReadFull(resp.Body, buf)
		body = append(body, buf[:n]...)
		if err != nil {
			if err != io.EOF && err != io.ErrUnexpectedEOF {
				t.Fatalf("steady reader cut after %d bytes and %v: %v", len(body), time.Since(start), err)
			}
			break
		}
		time.Sleep(150 * time.Millisecond)
	}
	resp.Body.Close()
	var servers []json.RawMessage
	if err := json.Unmarshal(body, &servers); err != nil || len(servers) != 10000 {
		t.Fatalf("steady reader got %d bytes in %v, not the whole list: %v", len(body), time.Since(start), err)
	}
	if elapsed := time.Since(start); elapsed < timeout {
		t.Logf("the answer took only %v; the test is weaker than meant", elapsed)
	}

	// Stalled: reads nothing for three timeouts, then what is left.
	resp = get()
	time.Sleep(3 * timeout)
	rest, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err == nil && json.Valid(rest) {
		t.Fatalf("a client that stopped reading for %v still got the whole %d bytes", 3*timeout, len(rest))
	}
}
