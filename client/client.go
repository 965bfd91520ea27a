// Package client is the Go client of the gitops-status HTTP API: reports
// (pipeline, cron, legacy v1), reads (records, lists with filters and
// paging, history, events, summary) and the service endpoints (index,
// health, ready). The gitops-status command's report and get use it, and so
// do the project's end-to-end tests.
//
// Every call takes a context, retries transient failures as its
// RetryPolicy says, and returns an *Error carrying the server's own sentence
// and field when the server refuses, or an *UnreachableError when no answer
// came. Records decode into the domain's gitops.Server.
//
// It imports only the standard library and the domain package.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Client talks to one gitops-status server. It is safe for concurrent use.
type Client struct {
	base      string // scheme://host[/prefix], no trailing slash
	token     string
	hc        *http.Client
	retry     RetryPolicy
	userAgent string
	jitter    func() float64
}

// Option configures a Client.
type Option func(*Client)

// WithToken sends token as "Authorization: Bearer <token>" on every
// request; "" sends none.
func WithToken(token string) Option { return func(c *Client) { c.token = token } }

// WithHTTPClient sends requests through hc, for example one whose transport
// trusts a private CA. Its Timeout, if any, bounds each attempt.
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.hc = hc } }

// WithRetry replaces DefaultRetry.
func WithRetry(p RetryPolicy) Option { return func(c *Client) { c.retry = p } }

// WithUserAgent sets the User-Agent header.
func WithUserAgent(ua string) Option { return func(c *Client) { c.userAgent = ua } }

// New returns a Client for the server at baseURL: http:// or https://, a
// host, and optionally the path prefix the server is mounted under
// ("https://ops.example/gitops-status").
func New(baseURL string, opts ...Option) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("server URL %q: use http://host:port or https://host, optionally with a path prefix", baseURL)
	}
	c := &Client{
		base:      strings.TrimSuffix(u.String(), "/"),
		hc:        &http.Client{},
		retry:     DefaultRetry,
		userAgent: "gitops-status-client",
		jitter:    jitterSource,
	}
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

// URL returns the server URL the client was made for.
func (c *Client) URL() string { return c.base }

// Response is an answer of the API with a status below 400.
type Response struct {
	StatusCode int
	Header     http.Header
	Body       []byte
}

// Do sends one API request with the client's token, retry policy and
// error handling, for endpoints this package has no method for (yet).
// path starts with "/" and has its segments escaped (url.PathEscape);
// query may be nil. A non-nil body is sent as JSON: a []byte or
// json.RawMessage as it is, anything else marshalled. Answers of 400 or more
// are returned as *Error, never as a Response.
func (c *Client) Do(ctx context.Context, method, path string, query url.Values, body any) (*Response, error) {
	return c.do(ctx, c.retry, method, path, query, body)
}

func (c *Client) do(ctx context.Context, policy RetryPolicy, method, path string, query url.Values, body any) (*Response, error) {
	var payload []byte
	switch b := body.(type) {
	case nil:
	case []byte:
		payload = b
	case json.RawMessage:
		payload = b
	default:
		var err error
		if payload, err = json.Marshal(body); err != nil {
			return nil, fmt.Errorf("encoding the request body: %w", err)
		}
	}
	target := c.base + path
	if len(query) > 0 {
		target += "?" + query.Encode()
	}
	// last is the failure to report if no attempt succeeds: the latest one,
	// except that an attempt cut short by the caller's deadline does not
	// hide why the attempts before it failed.
	var last error
	for n := 1; ; n++ {
		resp, err := c.attempt(ctx, policy, method, target, payload, body != nil)
		var wait time.Duration
		switch {
		case err == nil && resp.StatusCode < 400:
			return resp, nil
		case err == nil:
			ae := newError(method, target, resp)
			ae.Attempts = n
			if !ae.Temporary() {
				return nil, ae
			}
			last, wait = ae, ae.retryAfter
		case errors.As(err, new(*buildError)):
			return nil, err
		case ctx.Err() != nil && last != nil:
			return nil, final(last, target, n)
		case permanent(err):
			return nil, final(err, target, n)
		default:
			last = err
		}
		if !policy.more(n) || ctx.Err() != nil {
			return nil, final(last, target, n)
		}
		if wait == 0 {
			wait = policy.delay(n, c.jitter())
		}
		if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < wait {
			return nil, final(last, target, n)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, final(last, target, n)
		case <-t.C:
		}
	}
}

// final is the error of a request whose attempts all failed.
func final(last error, target string, attempts int) error {
	var ae *Error
	if errors.As(last, &ae) {
		ae.Attempts = attempts
		return ae
	}
	return &UnreachableError{URL: target, Attempts: attempts, Err: last}
}

// buildError is a request that could not be made at all; it is not retried.
type buildError struct{ err error }

func (e *buildError) Error() string { return e.err.Error() }
func (e *buildError) Unwrap() error { return e.err }

// maxErrorBody bounds how much of an error answer is read: the API's
// errors are one sentence, a proxy's error page is not worth more.
const maxErrorBody = 64 << 10

// attempt sends the request once and reads the whole answer.
func (c *Client) attempt(ctx context.Context, policy RetryPolicy, method, target string, payload []byte, hasBody bool) (*Response, error) {
	if policy.AttemptTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, policy.AttemptTimeout)
		defer cancel()
	}
	var rd io.Reader
	if hasBody {
		rd = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, rd)
	if err != nil {
		return nil, &buildError{err}
	}
	req.Header.Set("Accept", "application/json")
	if hasBody {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.userAgent != "" {
		req.Header.Set("User-Agent", c.userAgent)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var r io.Reader = resp.Body
	if resp.StatusCode >= 400 {
		r = io.LimitReader(resp.Body, maxErrorBody)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("reading the answer to %s %s: %w", method, target, err)
	}
	return &Response{StatusCode: resp.StatusCode, Header: resp.Header, Body: b}, nil
}

// newError reads an error answer: the API's {"error", "field"} JSON, or
// whatever a proxy in front of it said.
func newError(method, target string, resp *Response) *Error {
	e := &Error{
		StatusCode: resp.StatusCode,
		RequestID:  resp.Header.Get("X-Request-Id"),
		Method:     method,
		URL:        target,
	}
	var body struct {
		Error *string `json:"error"`
		Field string  `json:"field"`
	}
	if json.Unmarshal(resp.Body, &body) == nil && body.Error != nil {
		e.Message, e.Field = *body.Error, body.Field
	} else {
		e.Message = http.StatusText(resp.StatusCode)
		if line, _, _ := strings.Cut(strings.TrimSpace(string(resp.Body)), "\n"); line != "" && len(line) <= 200 &&
			strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
			e.Message += ": " + line
		}
	}
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
		e.retryAfter = retryAfter(resp.Header, time.Now())
	}
	return e
}
