package client

import (
	"context"
	"net/http"
	"net/url"

	gitops "github.com/gitops-status/gitops-status"
)

// HeadReport is the body of POST /desired: the newest commit of a branch.
type HeadReport struct {
	RepoName  string `json:"repo_name"`
	Branch    string `json:"branch"`
	CommitSHA string `json:"commit_sha"`
	// UpdatedBy defaults, on the server, to the token's name.
	UpdatedBy string `json:"updated_by,omitempty"`
	// ReportedAt, when set, keeps an older report from overwriting a newer
	// one (the out-of-order rule).
	ReportedAt gitops.Time `json:"reported_at,omitzero"`
}

// HeadAnswer is the answer of POST /desired.
type HeadAnswer struct {
	Head gitops.Head
	// Warnings are the answer's "warnings": ignored fields, or why an
	// out-of-order report was not applied.
	Warnings []string
}

// SetHead sets the head of a branch (POST /desired) and returns the
// stored head.
func (c *Client) SetHead(ctx context.Context, r HeadReport) (*HeadAnswer, error) {
	resp, err := c.do(ctx, c.retry, http.MethodPost, "/desired", nil, r)
	if err != nil {
		return nil, err
	}
	a := &HeadAnswer{}
	if err := decode(resp, &a.Head); err != nil {
		return nil, err
	}
	var w struct {
		Warnings []string `json:"warnings"`
	}
	if err := decode(resp, &w); err != nil {
		return nil, err
	}
	a.Warnings = w.Warnings
	return a, nil
}

// Heads returns every head (GET /desired), sorted by repo then branch.
func (c *Client) Heads(ctx context.Context) ([]gitops.Head, error) {
	var hs []gitops.Head
	return hs, c.getJSON(ctx, c.retry, "/desired", nil, &hs)
}

// DeleteHead forgets a head (DELETE /desired/{repo_name}/{branch}); an
// *Error with StatusCode 404 when there is none.
func (c *Client) DeleteHead(ctx context.Context, repo, branch string) error {
	_, err := c.do(ctx, c.retry, http.MethodDelete, "/desired/"+url.PathEscape(repo)+"/"+url.PathEscape(branch), nil, nil)
	return err
}
