package main

// What one fleet run starts: the service processes with the features
// asked for, and the target the reports and reads go to.

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// fleetTarget is where the fleet's reports and reads go: the one service,
// or with several the round-robin balancer in front of them; stop stops
// the balancer when there is one. Every request carries authorization.
func (b *bench) fleetTarget(svcs []*server, n int, authorization string) (t *target, stop func(), err error) {
	base, stop := svcs[0].base(), func() {}
	var dial dialFunc
	switch {
	case len(svcs) > 1 && b.cfg.proxy == proxyDial:
		rd := &rotatingDialer{}
		for _, s := range svcs {
			rd.addrs = append(rd.addrs, s.addr)
		}
		dial = rd.DialContext
	case len(svcs) > 1:
		stopProxy, addr, err := startProxy(svcs, b.cfg.proxy, b.cfg.inflight)
		if err != nil {
			return nil, nil, err
		}
		base, stop = "http://"+addr, stopProxy
	}
	t = newTarget(base, fleetClient(b.cfg, dial), n)
	t.dial, t.authorization = dial, authorization
	return t, stop, nil
}

// fleetServers prepares the service processes of one run: one for SQLite,
// -replicas on one PostgreSQL database. With -cpuprofile each serves its
// profiles and logs every GC (GODEBUG=gctrace=1, into its log).
func (b *bench) fleetServers(dir, doc, dbURL string, extra []string) ([]*server, error) {
	var svcs []*server
	for i := range b.cfg.replicas {
		addr, err := freeAddr()
		if err != nil {
			return nil, err
		}
		data := filepath.Join(dir, fmt.Sprintf("data-%d", i))
		if err := os.MkdirAll(data, 0o755); err != nil {
			return nil, err
		}
		argv := []string{b.bin, "serve", "--addr", addr, "--data-dir", data, "--import-file", doc}
		if dbURL != "" {
			argv = append(argv, "--database-url", dbURL)
		}
		argv = append(argv, extra...)
		s := newServer(fmt.Sprintf("%s service %d", b.cfg.fleetDB, i), argv, addr, filepath.Join(dir, fmt.Sprintf("service-%d.log", i)))
		if b.cfg.profileDir != "" {
			debug, err := freeAddr()
			if err != nil {
				return nil, err
			}
			s.argv = append(s.argv, "--debug-addr", debug)
			s.debugAddr = debug
			s.env = []string{"GODEBUG=gctrace=1"}
		}
		svcs = append(svcs, s)
	}
	return svcs, nil
}

// fleetFeatures is what -tokens and -webhook on add to every service
// process of a fleet size: a tokens file, with the header the reports and
// reads then send, and a webhook to a loopback receiver for every
// transition.
type fleetFeatures struct {
	args          []string
	authorization string
	label         string // added to the build's name in the results
	rcv           *receiver
}

func (b *bench) fleetFeatures(dir string) (*fleetFeatures, error) {
	f := &fleetFeatures{}
	if b.cfg.tokens {
		file := filepath.Join(dir, "tokens.yaml")
		auth, err := writeBenchTokens(file)
		if err != nil {
			return nil, err
		}
		f.args, f.authorization, f.label = append(f.args, "--tokens-file", file), auth, f.label+"+tokens"
	}
	if b.cfg.webhook == "on" {
		rcv, err := startReceiver()
		if err != nil {
			return nil, err
		}
		file := filepath.Join(dir, "webhooks.yaml")
		if err := writeWebhooksFile(file, rcv); err != nil {
			rcv.close()
			return nil, err
		}
		f.args, f.rcv, f.label = append(f.args, "--webhooks-file", file), rcv, f.label+"+webhook"
	}
	return f, nil
}

// close stops the receiver and says how many deliveries it took.
func (f *fleetFeatures) close(b *bench, n int) {
	if f.rcv != nil {
		b.logf("fleet %s N=%d: the receiver took %d deliveries", b.cfg.fleetDB, n, f.rcv.got.Load())
		f.rcv.close()
	}
}

// fleetClient keeps up to -inflight connections alive, one per request in
// flight at most; dial, when not nil, dials its connections.
func fleetClient(cfg config, dial dialFunc) *http.Client {
	return &http.Client{
		Timeout: cfg.reqTimeout,
		Transport: &http.Transport{
			Proxy:               nil,
			DialContext:         dial,
			MaxIdleConns:        cfg.inflight + 8,
			MaxIdleConnsPerHost: cfg.inflight + 8,
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true,
		},
	}
}
