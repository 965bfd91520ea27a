package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"

	gitops "github.com/gitops-status/gitops-status"
	gsclient "github.com/gitops-status/gitops-status/client"
	"github.com/gitops-status/gitops-status/internal/cienv"
)

const reportDesiredUsage = `Usage: gitops-status report desired --repo REPO [--branch BRANCH] [--commit SHA] [flags]

Sets the head of a branch: the commit every server of that repo and branch
should run (POST /desired), and prints the stored head. Servers whose
commit_sha is another commit become "behind". For pipelines that run on push
but cannot be reached by a git webhook:

  gitops-status report desired --repo rsyslog --branch master

In Woodpecker, GitLab CI, GitHub Actions and Jenkins, --commit and --branch
are taken from the CI's variables when not given.

Exit status: 0 stored; 1 refused by the server (its reason on stderr) or a
wrong command line; 2 the server could not be reached (or answered only 5xx
or 429) until --timeout.

Every flag is also an environment variable: --url is GITOPS_STATUS_URL,
--token GITOPS_STATUS_TOKEN (GITOPS_STATUS_TOKEN_FILE reads it from a file).
`

// desiredConfig is the command line of report desired.
type desiredConfig struct {
	clientConfig
	Repo, Branch, Commit, UpdatedBy, ReportedAt string
}

func (c *desiredConfig) register(fs *flag.FlagSet) {
	c.clientConfig.register(fs)
	fs.StringVar(&c.Repo, "repo", "", "repo_name of the servers that deploy this branch (required)")
	fs.StringVar(&c.Branch, "branch", "", "the branch (default: the CI's branch variable)")
	fs.StringVar(&c.Commit, "commit", "", "the branch's newest commit, 4-64 hex digits (default: the CI's commit variable)")
	fs.StringVar(&c.UpdatedBy, "updated-by", "", "updated_by (default: the CI user who started the pipeline, else the CI's name)")
	fs.StringVar(&c.ReportedAt, "reported-at", "", "when the commit was seen to be the branch's newest (RFC 3339); an older report than the last applied one is not applied")
}

// runReportDesired runs report desired and returns the exit code.
func runReportDesired(ctx context.Context, args []string, stdout, stderr io.Writer, version string, getenv func(string) string) int {
	cfg := &desiredConfig{}
	fs := newFlagSet("report desired", "")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), reportDesiredUsage, "\nFlags:\n")
		fs.PrintDefaults()
	}
	cfg.register(fs)
	if err := parseFlags(fs, args, stderr); err != nil {
		return commandError(stderr, err)
	}
	if fs.NArg() != 0 {
		return commandError(stderr, usageError{"report desired takes no arguments: " + strings.Join(fs.Args(), " ")})
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if err := cfg.check(explicitFlags((&desiredConfig{}).register, args)); err != nil {
		return commandError(stderr, err)
	}
	r, err := cfg.report(set, getenv)
	if err != nil {
		return commandError(stderr, err)
	}
	c, err := cfg.newClient(version)
	if err != nil {
		return commandError(stderr, err)
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	a, err := c.SetHead(ctx, r)
	if err != nil {
		return failure(stderr, "desired report", err)
	}
	for _, w := range a.Warnings {
		fmt.Fprintf(stderr, "gitops-status: warning: %s\n", w)
	}
	if cfg.Output == "json" {
		b, _ := json.Marshal(a.Head)
		fmt.Fprintf(stdout, "%s\n", b)
		return exitOK
	}
	fmt.Fprintf(stdout, "stored head %s %s: commit %s\n", a.Head.RepoName, a.Head.Branch, shortSHA(a.Head.CommitSHA))
	return exitOK
}

// report builds the head report, filling the commit, branch and
// updated_by from the CI's variables when no flag or variable of ours set
// them, and checks it as the server would, so a wrong one fails here with
// the server's sentence.
func (c *desiredConfig) report(set map[string]bool, getenv func(string) string) (gsclient.HeadReport, error) {
	r := gsclient.HeadReport{RepoName: c.Repo, Branch: c.Branch, CommitSHA: c.Commit, UpdatedBy: c.UpdatedBy}
	ci := cienv.Detect(getenv)
	if !set["commit"] && r.CommitSHA == "" {
		r.CommitSHA = ci.CommitSHA
	}
	if !set["branch"] && r.Branch == "" {
		r.Branch = ci.Branch
	}
	if !set["updated-by"] && r.UpdatedBy == "" {
		r.UpdatedBy = ci.Actor
		if r.UpdatedBy == "" {
			r.UpdatedBy = ci.System
		}
	}
	at, err := parseReportedAt(c.ReportedAt)
	if err != nil {
		return r, err
	}
	r.ReportedAt = gitops.Time{Time: at}
	switch {
	case r.RepoName == "":
		return r, usageError{"--repo is required: the repo_name of the servers that deploy this branch"}
	case r.Branch == "":
		return r, usageError{"--branch is required outside a recognised CI (Woodpecker, GitLab CI, GitHub Actions, Jenkins)"}
	case r.CommitSHA == "":
		return r, usageError{"--commit is required outside a recognised CI (Woodpecker, GitLab CI, GitHub Actions, Jenkins)"}
	}
	u := gitops.SetHead{RepoName: r.RepoName, Branch: r.Branch, CommitSHA: r.CommitSHA, UpdatedBy: r.UpdatedBy}
	if err := u.Validate(); err != nil {
		return r, usageError{gitops.ErrorMessage(err)}
	}
	return r, nil
}
