package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"time"
)

// receiver is the loopback webhook receiver of -webhook: it answers 200
// to every delivery and counts them, so that the benchmark measures what
// notifications cost the service, not a remote receiver.
type receiver struct {
	srv  *http.Server
	url  string
	got  atomic.Int64
	done chan struct{}
}

func startReceiver() (*receiver, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r := &receiver{url: "http://" + ln.Addr().String() + "/hook", done: make(chan struct{})}
	r.srv = &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		_, _ = io.Copy(io.Discard, req.Body)
		r.got.Add(1)
	})}
	go func() {
		defer close(r.done)
		_ = r.srv.Serve(ln)
	}()
	return r, nil
}

func (r *receiver) close() {
	r.srv.Close()
	<-r.done
}

// writeWebhooksFile writes a webhooks file that sends every transition,
// signed, to r.
func writeWebhooksFile(file string, r *receiver) error {
	body := fmt.Sprintf(`webhooks:
  - name: bench
    url: %q
    secret: bench-secret
    on: [out_of_sync, failed, validation_failed, synced, stale]
`, r.url)
	return os.WriteFile(file, []byte(body), 0o600)
}
