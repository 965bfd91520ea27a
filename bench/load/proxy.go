package main

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync/atomic"
	"time"
)

// startProxy puts the replicas behind one address, each request to the
// next replica in turn, as a load balancer in front of them would.
func startProxy(svcs []*server, inflight int) (stop func(), addr string, err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", err
	}
	var addrs []string
	for _, s := range svcs {
		addrs = append(addrs, s.addr)
	}
	srv := &http.Server{Handler: roundRobin(addrs, inflight), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return func() { srv.Close() }, ln.Addr().String(), nil
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
