package postgres_test

import (
	"context"
	"io"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	gitops "github.com/gitops-status/gitops-status"
	"github.com/gitops-status/gitops-status/postgres/pgtest"
)

// proxy forwards TCP connections to a PostgreSQL server and can drop them
// all and refuse new ones, as a database that went away does, without
// stopping the shared test server.
type proxy struct {
	t      *testing.T
	addr   string // where it listens
	target string

	mu    sync.Mutex
	ln    net.Listener
	conns []net.Conn
}

func newProxy(t *testing.T, target string) *proxy {
	p := &proxy{t: t, target: target}
	p.up("127.0.0.1:0")
	t.Cleanup(p.down)
	return p
}

// up listens on addr (its old address when the proxy was down).
func (p *proxy) up(addr string) {
	var ln net.Listener
	var err error
	for i := 0; i < 50; i++ { // the port may take a moment to be free again
		if ln, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		p.t.Fatalf("proxy: %v", err)
	}
	p.mu.Lock()
	p.ln, p.addr = ln, ln.Addr().String()
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, s)
			p.mu.Unlock()
			go func() { io.Copy(s, c); s.Close() }()
			go func() { io.Copy(c, s); c.Close() }()
		}
	}()
}

// down closes the listener and every connection.
func (p *proxy) down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// TestDatabaseGoesAway cuts the store off its database: every call fails
// with EUNAVAILABLE and a clear sentence, promptly, and once the database
// is reachable again the store works again by itself.
func TestDatabaseGoesAway(t *testing.T) {
	t.Parallel()
	dbURL := pgtest.NewDatabase(t)
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Skipf("GITOPS_STATUS_TEST_DATABASE_URL is not a URL: %v", err)
	}
	p := newProxy(t, u.Host)
	u.Host = p.addr
	s := MustOpenStore(t, u.String(), gitops.StoreOptions{Now: newClock().Now})
	ctx := context.Background()
	k := gitops.Key{ServerGroup: "g", Host: "h"}
	mustApply(t, s, pipeline(k.ServerGroup, k.Host, "before"))

	calls := map[string]func() error{
		"Ping":         func() error { return s.Ping(ctx) },
		"Get":          func() error { _, err := s.Get(ctx, k); return err },
		"List":         func() error { _, _, err := s.List(ctx, gitops.Filter{}); return err },
		"List paged":   func() error { _, _, err := s.List(ctx, gitops.Filter{Limit: 1}); return err },
		"Events":       func() error { _, err := s.Events(ctx, gitops.EventFilter{}); return err },
		"LegacyLatest": func() error { _, err := s.LegacyLatest(ctx); return err },
		"Apply":        func() error { _, err := s.Apply(ctx, pipeline(k.ServerGroup, k.Host, "during")); return err },
		"Delete":       func() error { return s.Delete(ctx, gitops.Key{ServerGroup: "g", Host: "nobody"}) },
		"PruneEvents":  func() error { _, err := s.PruneEvents(ctx, time.Unix(0, 0)); return err },
		"Import":       func() error { _, err := s.Import(ctx, nil, gitops.ImportReplace); return err },
		// The encoded cache is loaded: it must not answer while it cannot
		// know whether it is current.
		"GetEncoded":  func() error { _, err := s.GetEncoded(ctx, k); return err },
		"ListEncoded": func() error { _, _, err := s.ListEncoded(ctx, gitops.Filter{}); return err },
	}
	if _, _, err := s.ListEncoded(ctx, gitops.Filter{}); err != nil {
		t.Fatal(err)
	}

	addr := p.addr
	p.down()
	for name, call := range calls {
		start := time.Now()
		err := call()
		if gitops.ErrorCode(err) != gitops.EUNAVAILABLE {
			t.Errorf("%s with the database gone: %v, want EUNAVAILABLE", name, err)
			continue
		}
		if msg := gitops.ErrorMessage(err); !strings.HasPrefix(msg, "database unavailable: ") {
			t.Errorf("%s: message %q", name, msg)
		}
		t.Logf("%s: %s", name, gitops.ErrorMessage(err))
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("%s took %s to fail", name, d)
		}
	}

	p.up(addr)
	deadline := time.Now().Add(10 * time.Second)
	for name, call := range calls {
		for {
			err := call()
			if err == nil || gitops.ErrorCode(err) == gitops.ENOTFOUND {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s after the database came back: %v", name, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	if got, err := s.Get(ctx, k); err != nil || got.CommitSHA != "during" {
		t.Fatalf("after recovery: %+v, %v", got.CommitSHA, err)
	}
}
