package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
	"sync/atomic"
	"time"
)

// Proxy modes of -proxy: how -replicas are put behind one address.
const (
	// proxyTCP balances connections, as a layer-4 load balancer does
	// (a Kubernetes Service, HAProxy in tcp mode): each new connection goes
	// to the next replica in turn and its bytes are copied both ways
	// (splice(2) on Linux), so a request costs the proxy no parsing.
	proxyTCP = "tcp"
	// proxyHTTP balances requests (httputil.ReverseProxy): each request to
	// the next replica. On the 2-core machine it cost the generator's
	// process ~0.35 cores more at 300,000 servers than the open loop alone,
	// taken from the replicas it fronts.
	proxyHTTP = "http"
	// proxyDial balances connections with no process in between: the
	// generator dials each new connection to the next replica itself,
	// which is what a kernel balancer (a Kubernetes Service's iptables or
	// IPVS rules) does to a connection to its one address. proxyTCP's
	// copying cost the generator's process ~0.15 cores at 300,000 servers
	// on two replicas, where a Service costs the machine next to nothing.
	proxyDial = "dial"
)

// dialFunc dials a connection, as net.Dialer.DialContext does.
type dialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// rotatingDialer is proxyDial's balancer: each connection it dials goes to
// the next of addrs, whatever address it was asked for.
type rotatingDialer struct {
	addrs []string
	next  atomic.Uint64
	d     net.Dialer
}

func (r *rotatingDialer) DialContext(ctx context.Context, network, _ string) (net.Conn, error) {
	return r.d.DialContext(ctx, network, r.addrs[r.next.Add(1)%uint64(len(r.addrs))])
}

// startProxy puts the replicas behind one address in the given mode.
func startProxy(svcs []*server, mode string, inflight int) (stop func(), addr string, err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", err
	}
	var addrs []string
	for _, s := range svcs {
		addrs = append(addrs, s.addr)
	}
	if mode == proxyTCP {
		p := &tcpProxy{ln: ln, addrs: addrs, conns: map[net.Conn]struct{}{}}
		go p.serve()
		return p.close, ln.Addr().String(), nil
	}
	srv := &http.Server{Handler: roundRobin(addrs, inflight), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return func() { srv.Close() }, ln.Addr().String(), nil
}

// tcpProxy is the proxyTCP balancer.
type tcpProxy struct {
	ln    net.Listener
	addrs []string
	next  atomic.Uint64

	mu     sync.Mutex
	closed bool
	conns  map[net.Conn]struct{} // open on either side, closed by close
	wg     sync.WaitGroup
}

func (p *tcpProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		target := p.addrs[p.next.Add(1)%uint64(len(p.addrs))]
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.pipe(c, target)
		}()
	}
}

// pipe connects client to target and copies both ways until both sides
// are done. A half-close is passed on, so a side that stops writing lets
// the other finish its answer.
func (p *tcpProxy) pipe(client net.Conn, target string) {
	defer client.Close()
	if !p.track(client) {
		return
	}
	defer p.untrack(client)
	up, err := net.DialTimeout("tcp", target, 5*time.Second)
	if err != nil {
		return // the client sees its connection closed: an error it counts
	}
	defer up.Close()
	if !p.track(up) {
		return
	}
	defer p.untrack(up)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = io.Copy(up, client)
		closeWrite(up)
	}()
	_, _ = io.Copy(client, up)
	closeWrite(client)
	<-done
}

func closeWrite(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	}
}

// track registers c to be closed by close; false when close already ran.
func (p *tcpProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *tcpProxy) untrack(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
}

// close stops accepting, closes every connection and waits for the pipes.
func (p *tcpProxy) close() {
	_ = p.ln.Close()
	p.mu.Lock()
	p.closed = true
	for c := range p.conns {
		_ = c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// roundRobin sends each request to the next of addrs in turn.
func roundRobin(addrs []string, inflight int) http.Handler {
	targets := make([]*url.URL, len(addrs))
	for i, a := range addrs {
		targets[i] = &url.URL{Scheme: "http", Host: a}
	}
	var next atomic.Uint64
	return &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(targets[next.Add(1)%uint64(len(targets))])
			r.Out.Host = r.In.Host
		},
		Transport: &http.Transport{
			Proxy:               nil,
			MaxIdleConns:        2 * inflight,
			MaxIdleConnsPerHost: inflight,
			DisableCompression:  true,
		},
		// Long lists stream through as the replica writes them.
		FlushInterval: -1,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			http.Error(w, fmt.Sprintf("proxy: %v", err), http.StatusBadGateway)
		},
	}
}

// parseProxy checks a -proxy value.
func parseProxy(mode string) error {
	if mode != proxyTCP && mode != proxyHTTP && mode != proxyDial {
		return errors.New(`-proxy: use tcp (connections to each replica in turn, through a proxy), dial (connections to each replica in turn, dialed there by the generator) or http (requests to each replica in turn)`)
	}
	return nil
}
