package main

import (
	"context"
	"fmt"
	"io"
	"os"

	gitops "github.com/gitops-status/gitops-status"
	gsclient "github.com/gitops-status/gitops-status/client"
	"github.com/gitops-status/gitops-status/internal/ansiblejson"
)

// reportAnsible sends one cron report per host of an ansible-playbook
// --check --diff run: failed when the host failed or was unreachable,
// out_of_sync with the files its changed tasks would write, synced
// otherwise. The run's start is the reports' reported_at unless
// --reported-at says otherwise, so a check that started before a deploy
// finished does not overwrite it.
//
// The exit code is 1 when any report was refused, else 2 when any could
// not be delivered, else 0.
func (c *reportConfig) reportAnsible(ctx context.Context, api *gsclient.Client, args []string, set map[string]bool, stdin io.Reader, stdout, stderr io.Writer) int {
	switch {
	case c.ServerGroup == "":
		return commandError(stderr, usageError{"--from-ansible needs --server-group: the group of the playbook's hosts"})
	case set["host"] || set["status"] || set["changed-files"] || len(args) > 0:
		return commandError(stderr, usageError{"--from-ansible takes the hosts, their status and changed files from the playbook's output; drop --host, --status, --changed-files and file arguments"})
	}
	var in io.Reader = stdin
	if c.FromAnsible != "-" {
		f, err := os.Open(c.FromAnsible)
		if err != nil {
			return commandError(stderr, fmt.Errorf("--from-ansible: %w", err))
		}
		defer f.Close()
		in = f
	}
	run, err := ansiblejson.Parse(in)
	if err != nil {
		return commandError(stderr, fmt.Errorf("--from-ansible %s: %w", c.FromAnsible, err))
	}
	if len(run.Hosts) == 0 {
		return commandError(stderr, fmt.Errorf("--from-ansible %s: the run has no hosts", c.FromAnsible))
	}
	reportedAt := run.Started
	if set["reported-at"] {
		if reportedAt, err = parseReportedAt(c.ReportedAt); err != nil {
			return commandError(stderr, err)
		}
	}
	reports := make([]gsclient.CronReport, len(run.Hosts))
	for i, h := range run.Hosts {
		r := c.cronReport(h.Changed, reportedAt, set)
		r.Host = h.Name
		switch {
		case h.Failed:
			r.Status = gitops.StatusFailed
		case len(h.Changed) > 0:
			r.Status = gitops.StatusOutOfSync
		default:
			r.Status = gitops.StatusSynced
		}
		if err := checkReport(r, gitops.ParseCronUpdate); err != nil {
			return commandError(stderr, fmt.Errorf("host %s: %w", h.Name, err))
		}
		reports[i] = r
	}
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	code := exitOK
	for i, r := range reports {
		if ctx.Err() != nil {
			fmt.Fprintf(stderr, "gitops-status: %s/%s: not sent: --timeout passed\n", r.ServerGroup, r.Host)
			code = worse(code, exitUnreachable)
			continue
		}
		if f := run.Hosts[i].Failure; f != "" {
			fmt.Fprintf(stderr, "gitops-status: %s/%s failed in ansible: %s\n", r.ServerGroup, r.Host, f)
		}
		rec, err := api.Cron(ctx, r)
		if err != nil {
			code = worse(code, failure(stderr, r.ServerGroup+"/"+r.Host+" cron report", err))
			continue
		}
		printStored(stdout, stderr, c.Output, rec)
	}
	return code
}

// worse combines exit codes: a refusal outranks an outage, because a
// pipeline that tolerates exit 2 must never hide a report the server will
// not take.
func worse(a, b int) int {
	if a == exitRefused || b == exitRefused {
		return exitRefused
	}
	return max(a, b)
}
