package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestProxies: both balancers answer through the one address with the
// replicas' answers, request bodies and all, and reach every replica.
func TestProxies(t *testing.T) {
	for _, mode := range []string{proxyTCP, proxyHTTP} {
		t.Run(mode, func(t *testing.T) {
			var svcs []*server
			for _, name := range []string{"a", "b"} {
				ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					body, _ := io.ReadAll(r.Body)
					io.WriteString(w, name+":"+string(body))
				}))
				defer ts.Close()
				svcs = append(svcs, &server{name: name, addr: strings.TrimPrefix(ts.URL, "http://")})
			}
			stop, addr, err := startProxy(svcs, mode, 8)
			if err != nil {
				t.Fatal(err)
			}
			seen := map[string]int{}
			for i := range 4 {
				// A client of its own per request: the TCP balancer
				// chooses a replica per connection.
				c := &http.Client{Transport: &http.Transport{}}
				resp, err := c.Post("http://"+addr+"/status/cron", "application/json", strings.NewReader("body"))
				if err != nil {
					t.Fatalf("request %d: %v", i, err)
				}
				got, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				replica, body, _ := strings.Cut(string(got), ":")
				if body != "body" {
					t.Fatalf("request %d answered %q", i, got)
				}
				seen[replica]++
				c.CloseIdleConnections()
			}
			if seen["a"] == 0 || seen["b"] == 0 {
				t.Errorf("answers per replica %v, want both", seen)
			}
			stop()
			if _, err := http.Get("http://" + addr + "/"); err == nil {
				t.Error("the proxy still answers after stop")
			}
		})
	}
}

func TestParseProxy(t *testing.T) {
	for _, m := range []string{"tcp", "http", "dial"} {
		if err := parseProxy(m); err != nil {
			t.Errorf("%s: %v", m, err)
		}
	}
	if err := parseProxy("udp"); err == nil || !strings.Contains(err.Error(), "use tcp") {
		t.Errorf("udp: %v", err)
	}
}

// TestRotatingDialer: with -proxy dial the generator's clients, the
// reports' and the readers', send each new connection to the next replica.
func TestRotatingDialer(t *testing.T) {
	rd := &rotatingDialer{}
	for _, name := range []string{"a", "b"} {
		ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Connection", "close") // the next request dials again
			io.WriteString(w, name)
		}))
		defer ts.Close()
		rd.addrs = append(rd.addrs, strings.TrimPrefix(ts.URL, "http://"))
	}
	c := fleetClient(config{inflight: 4, reqTimeout: 5 * time.Second}, rd.DialContext)
	var got []string
	for range 4 {
		// The address asked for is neither replica's: the dialer decides.
		resp, err := c.Get("http://replicas.invalid/status")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got = append(got, string(b))
	}
	if strings.Join(got, "") != "baba" && strings.Join(got, "") != "abab" {
		t.Errorf("four connections went to %v, want each to the next replica", got)
	}
	s, err := newConnSender("http://replicas.invalid", "", 4, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	s.dial = rd.DialContext
	for range 2 {
		if err := s.post(context.Background(), "/status/cron", newCronBody(0, false)); err != nil {
			t.Fatal(err)
		}
	}
	if n := rd.next.Load(); n != 6 {
		t.Errorf("%d connections dialed, want 6: every answer closed its connection", n)
	}
}
