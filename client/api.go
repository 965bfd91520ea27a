package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	gitops "github.com/gitops-status/gitops-status"
)

// PipelineReport is the body of POST /status/pipeline: the whole truth of a
// deployment. Fields left empty are reset on the server ("", [], unknown),
// as the API does for a field the body omits.
type PipelineReport struct {
	ServerGroup       string                  `json:"server_group"`
	Host              string                  `json:"host"`
	Status            gitops.Status           `json:"status"`
	ProjectName       string                  `json:"project_name,omitempty"`
	RepoName          string                  `json:"repo_name,omitempty"`
	ServerType        string                  `json:"server_type,omitempty"`
	Environment       string                  `json:"environment,omitempty"`
	ChangedFiles      []string                `json:"changed_files,omitempty"`
	ValidationStatus  gitops.ValidationStatus `json:"validation_status,omitempty"`
	ValidationMessage string                  `json:"validation_message,omitempty"`
	CommitSHA         string                  `json:"commit_sha,omitempty"`
	Branch            string                  `json:"branch,omitempty"`
	UpdatedBy         string                  `json:"updated_by,omitempty"`
	Labels            map[string]string       `json:"labels,omitempty"`
	// StaleAfter is this server's own staleness threshold (a Go duration
	// such as "30m"; "0s" = never stale; "" = the server's global one).
	StaleAfter string `json:"stale_after,omitempty"`
	// ReportedAt is when the deployment observed the state; zero = unknown.
	ReportedAt gitops.Time `json:"reported_at,omitzero"`
}

// CronReport is the body of POST /status/cron: what a drift check found.
// It never changes what a pipeline wrote.
type CronReport struct {
	ServerGroup  string        `json:"server_group"`
	Host         string        `json:"host"`
	Status       gitops.Status `json:"status"`
	ChangedFiles []string      `json:"changed_files,omitempty"`
	// The identity fields are used only when the report creates the record.
	ProjectName string `json:"project_name,omitempty"`
	RepoName    string `json:"repo_name,omitempty"`
	ServerType  string `json:"server_type,omitempty"`
	Environment string `json:"environment,omitempty"`
	// StaleAfter, when not nil, replaces the server's own threshold; nil
	// keeps it.
	StaleAfter *string     `json:"stale_after,omitempty"`
	ReportedAt gitops.Time `json:"reported_at,omitzero"`
}

// Record is one server record as the server answered it.
type Record struct {
	Server gitops.Server
	// Warnings are the sentences of the answer's "warnings" list: ignored
	// fields, or why an out-of-order report was not applied.
	Warnings []string
	// JSON is the record as the server sent it, including fields this
	// client does not know.
	JSON json.RawMessage
}

// Page is an answer of GET /status or GET /status/{server_group}.
type Page struct {
	Servers []gitops.Server
	// Total is the number of servers matching the filter before Limit and
	// Offset applied (the X-Total-Count header).
	Total int
	// JSON is the array as the server sent it.
	JSON json.RawMessage
}

// Info is the answer of GET /.
type Info struct {
	Name        string   `json:"name"`
	Version     string   `json:"version"`
	APIVersion  string   `json:"api_version"`
	Endpoints   []string `json:"endpoints"`
	AuthEnabled bool     `json:"auth_enabled"`
}

// Summary is the answer of GET /summary.
type Summary struct {
	Total         int                              `json:"total"`
	Stale         int                              `json:"stale"`
	Behind        int                              `json:"behind"`
	ByStatus      map[gitops.Status]int            `json:"by_status"`
	ByGroup       map[string]map[gitops.Status]int `json:"by_group"`
	ByEnvironment map[string]map[gitops.Status]int `json:"by_environment"`
}

// LegacyRecord is the answer of the legacy v1 endpoints.
type LegacyRecord struct {
	Status   gitops.V1Status
	Warnings []string
}

// Pipeline sends a deployment report and returns the stored record.
func (c *Client) Pipeline(ctx context.Context, r PipelineReport) (*Record, error) {
	return c.record(ctx, http.MethodPost, "/status/pipeline", r)
}

// Cron sends a drift check report and returns the stored record.
func (c *Client) Cron(ctx context.Context, r CronReport) (*Record, error) {
	return c.record(ctx, http.MethodPost, "/status/cron", r)
}

// Get returns one server's record; an *Error with StatusCode 404 when the
// server does not know it.
func (c *Client) Get(ctx context.Context, group, host string) (*Record, error) {
	return c.record(ctx, http.MethodGet, keyPath(group, host), nil)
}

// List returns the servers f selects (GET /status): each field of f is an
// OR of its values, fields AND together; Limit 0 means all.
func (c *Client) List(ctx context.Context, f gitops.Filter) (*Page, error) {
	return c.page(ctx, "/status", f)
}

// Group returns the servers of one group that f selects
// (GET /status/{server_group}); an *Error with StatusCode 404 when the
// group has no servers at all.
func (c *Client) Group(ctx context.Context, group string, f gitops.Filter) (*Page, error) {
	return c.page(ctx, "/status/"+url.PathEscape(group), f)
}

// Delete forgets a server (DELETE /status/{server_group}/{host}).
func (c *Client) Delete(ctx context.Context, group, host string) error {
	_, err := c.do(ctx, c.retry, http.MethodDelete, keyPath(group, host), nil, nil)
	return err
}

// History returns one server's events, newest first; f's Since, Until and
// Limit apply (the server's default limit is 100).
func (c *Client) History(ctx context.Context, group, host string, f gitops.EventFilter) ([]gitops.Event, error) {
	q := eventQuery(gitops.EventFilter{Since: f.Since, Until: f.Until, Limit: f.Limit})
	return c.events(ctx, keyPath(group, host)+"/history", q)
}

// Events returns every server's events that f selects, newest first
// (GET /events; f.Host is not a parameter of it and is ignored).
func (c *Client) Events(ctx context.Context, f gitops.EventFilter) ([]gitops.Event, error) {
	return c.events(ctx, "/events", eventQuery(f))
}

// Summary returns the counts of GET /summary.
func (c *Client) Summary(ctx context.Context) (*Summary, error) {
	var s Summary
	return &s, c.getJSON(ctx, c.retry, "/summary", nil, &s)
}

// Info returns the service info of GET /.
func (c *Client) Info(ctx context.Context) (*Info, error) {
	var i Info
	return &i, c.getJSON(ctx, c.retry, "/", nil, &i)
}

// Health asks GET /health once, without retrying: nil means the process
// answers.
func (c *Client) Health(ctx context.Context) error {
	_, err := c.do(ctx, NoRetry, http.MethodGet, "/health", nil, nil)
	return err
}

// Ready asks GET /ready once, without retrying: nil means the store
// answers; otherwise an *Error (503) whose Message is the reason.
func (c *Client) Ready(ctx context.Context) error {
	_, err := c.do(ctx, NoRetry, http.MethodGet, "/ready", nil, nil)
	return err
}

// LegacyGet returns the v1 document of GET /api/status: of host when it is
// not "", else of the server last written through the legacy API.
func (c *Client) LegacyGet(ctx context.Context, host string) (*gitops.V1Status, error) {
	var q url.Values
	if host != "" {
		q = url.Values{"server": {host}}
	}
	var v gitops.V1Status
	return &v, c.getJSON(ctx, c.retry, "/api/status", q, &v)
}

// LegacyPost sends a v1 document to POST /api/status, as v1 clients do,
// and returns the v1 view of the stored server. A zero LastCheck is sent as
// null (the server's clock applies).
func (c *Client) LegacyPost(ctx context.Context, v gitops.V1Status) (*LegacyRecord, error) {
	resp, err := c.do(ctx, c.retry, http.MethodPost, "/api/status", nil, v)
	if err != nil {
		return nil, err
	}
	var out struct {
		gitops.V1Status
		Warnings []string `json:"warnings"`
	}
	if err := decode(resp, &out); err != nil {
		return nil, err
	}
	return &LegacyRecord{Status: out.V1Status, Warnings: out.Warnings}, nil
}

func keyPath(group, host string) string {
	return "/status/" + url.PathEscape(group) + "/" + url.PathEscape(host)
}

func (c *Client) record(ctx context.Context, method, path string, body any) (*Record, error) {
	resp, err := c.do(ctx, c.retry, method, path, nil, body)
	if err != nil {
		return nil, err
	}
	r := &Record{JSON: resp.Body}
	if err := decode(resp, &r.Server); err != nil {
		return nil, err
	}
	var w struct {
		Warnings []string `json:"warnings"`
	}
	if err := decode(resp, &w); err != nil {
		return nil, err
	}
	r.Warnings = w.Warnings
	return r, nil
}

func (c *Client) page(ctx context.Context, path string, f gitops.Filter) (*Page, error) {
	resp, err := c.do(ctx, c.retry, http.MethodGet, path, filterQuery(f), nil)
	if err != nil {
		return nil, err
	}
	p := &Page{JSON: resp.Body}
	if err := decode(resp, &p.Servers); err != nil {
		return nil, err
	}
	p.Total = len(p.Servers)
	if v := resp.Header.Get("X-Total-Count"); v != "" {
		if p.Total, err = strconv.Atoi(v); err != nil {
			return nil, fmt.Errorf("GET %s: X-Total-Count %q is not a number", path, v)
		}
	}
	return p, nil
}

func (c *Client) events(ctx context.Context, path string, q url.Values) ([]gitops.Event, error) {
	var evs []gitops.Event
	return evs, c.getJSON(ctx, c.retry, path, q, &evs)
}

func (c *Client) getJSON(ctx context.Context, policy RetryPolicy, path string, q url.Values, out any) error {
	resp, err := c.do(ctx, policy, http.MethodGet, path, q, nil)
	if err != nil {
		return err
	}
	return decode(resp, out)
}

// decode reads an answer's JSON into out. An answer that does not decode
// is a server (or proxy) speaking another protocol: the error says so.
func decode(resp *Response, out any) error {
	if err := json.Unmarshal(resp.Body, out); err != nil {
		return fmt.Errorf("the server's answer (%d, %d bytes) is not the API's JSON: %v", resp.StatusCode, len(resp.Body), err)
	}
	return nil
}

func filterQuery(f gitops.Filter) url.Values {
	q := url.Values{}
	add := func(name string, vs []string) {
		for _, v := range vs {
			q.Add(name, v)
		}
	}
	add("server_group", f.ServerGroup)
	add("host", f.Host)
	add("server_type", f.ServerType)
	add("environment", f.Environment)
	for _, s := range f.Status {
		q.Add("status", string(s))
	}
	for _, s := range f.ValidationStatus {
		q.Add("validation_status", string(s))
	}
	if f.Stale != nil {
		q.Set("stale", strconv.FormatBool(*f.Stale))
	}
	if f.Behind != nil {
		q.Set("behind", strconv.FormatBool(*f.Behind))
	}
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	if f.Offset > 0 {
		q.Set("offset", strconv.Itoa(f.Offset))
	}
	return q
}

func eventQuery(f gitops.EventFilter) url.Values {
	q := url.Values{}
	for _, g := range f.ServerGroup {
		q.Add("server_group", g)
	}
	for _, s := range f.Status {
		q.Add("status", string(s))
	}
	if !f.Since.IsZero() {
		q.Set("since", f.Since.UTC().Format(time.RFC3339Nano))
	}
	if !f.Until.IsZero() {
		q.Set("until", f.Until.UTC().Format(time.RFC3339Nano))
	}
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	return q
}
