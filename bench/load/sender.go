package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Report senders. The fleet's generator shares the machine with the
// service, so what it spends a report is taken from the service: measured
// at 400,000 servers, net/http's client took 0.5 of the 2 cores (three
// goroutines hand each request over, caller to the connection's writer to
// its reader, and a Request, its Header and the Transport's bookkeeping
// are built every time), where the 400,000 servers' own cron jobs would
// run on machines of their own. connSender sends a report as lean
// generators such as wrk do: written whole, in one write, on a kept-alive
// HTTP/1.1 connection that one request uses at a time, and its answer read
// with http.ReadResponse, which keeps HTTP's framing rules (Content-Length,
// chunked, Connection: close) those of the standard library. The old
// client stays behind -client http, to compare.

// Values of -client.
const (
	clientConn = "conn"
	clientHTTP = "http"
)

func parseClient(s string) error {
	if s != clientConn && s != clientHTTP {
		return fmt.Errorf("-client %q: use %s or %s", s, clientConn, clientHTTP)
	}
	return nil
}

// poster sends one JSON report and returns nil when it was answered 2xx.
type poster func(ctx context.Context, path string, v any) error

// reportPoster returns how the fleet's reports reach t, as -client says,
// and what closes the connections it keeps once the run is over.
func (b *bench) reportPoster(t *target) (poster, func(), error) {
	if b.cfg.client == clientHTTP {
		return t.postJSON, t.client.CloseIdleConnections, nil
	}
	s, err := newConnSender(t.base, t.authorization, b.cfg.inflight, b.cfg.reqTimeout)
	if err != nil {
		return nil, nil, err
	}
	if t.dial != nil {
		s.dial = t.dial
	}
	return s.post, s.closeIdle, nil
}

// connSender keeps up to maxIdle connections to one address, each used by
// one request at a time.
type connSender struct {
	addr    string // host:port
	head    string // the request headers after the request line but Content-Length
	timeout time.Duration
	idle    chan *senderConn
	dial    dialFunc
}

type senderConn struct {
	c   net.Conn
	br  *bufio.Reader
	req []byte // the request being written, reused
}

func newConnSender(base, authorization string, maxIdle int, timeout time.Duration) (*connSender, error) {
	u, err := url.Parse(base)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "http" || u.Host == "" {
		return nil, fmt.Errorf("-client %s sends plain HTTP; %q is not an http:// address", clientConn, base)
	}
	head := "Host: " + u.Host + "\r\nUser-Agent: gitops-status-bench\r\nContent-Type: application/json\r\n"
	if authorization != "" {
		head += "Authorization: " + authorization + "\r\n"
	}
	d := &net.Dialer{Timeout: timeout}
	return &connSender{addr: u.Host, head: head, timeout: timeout,
		idle: make(chan *senderConn, maxIdle), dial: d.DialContext}, nil
}

// post sends v as JSON to path. A connection that failed, or that the
// server closes, is not used again; nothing is retried, as net/http's
// client does not retry a POST either.
func (s *connSender) post(ctx context.Context, path string, v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	c, err := s.conn(ctx)
	if err != nil {
		return err
	}
	keep, err := c.roundTrip(s, path, body)
	if err != nil || !keep {
		c.c.Close()
		return err
	}
	select {
	case s.idle <- c:
	default:
		c.c.Close()
	}
	return nil
}

// closeIdle closes the connections kept for the next request.
func (s *connSender) closeIdle() {
	for {
		select {
		case c := <-s.idle:
			c.c.Close()
		default:
			return
		}
	}
}

// conn returns an idle connection, or a new one.
func (s *connSender) conn(ctx context.Context) (*senderConn, error) {
	select {
	case c := <-s.idle:
		return c, nil
	default:
	}
	nc, err := s.dial(ctx, "tcp", s.addr)
	if err != nil {
		return nil, err
	}
	return &senderConn{c: nc, br: bufio.NewReaderSize(nc, 8<<10)}, nil
}

// roundTrip writes one POST and reads its whole answer. keep is false when
// the connection must not be used again.
func (c *senderConn) roundTrip(s *connSender, path string, body []byte) (keep bool, err error) {
	if err := c.c.SetDeadline(time.Now().Add(s.timeout)); err != nil {
		return false, err
	}
	r := append(c.req[:0], "POST "...)
	r = append(r, path...)
	r = append(r, " HTTP/1.1\r\n"...)
	r = append(r, s.head...)
	r = append(r, "Content-Length: "...)
	r = strconv.AppendInt(r, int64(len(body)), 10)
	r = append(r, "\r\n\r\n"...)
	r = append(r, body...)
	c.req = r
	if _, err := c.c.Write(r); err != nil {
		return false, err
	}
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		return false, err
	}
	if resp.StatusCode/100 != 2 {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
		resp.Body.Close()
		return false, &statusError{http.MethodPost, path, resp.StatusCode, string(bytes.TrimSpace(msg))}
	}
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return false, err
	}
	return !resp.Close, resp.Body.Close()
}
