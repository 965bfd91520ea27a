package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	gitops "github.com/gitops-status/gitops-status"
	gsclient "github.com/gitops-status/gitops-status/client"
	"github.com/gitops-status/gitops-status/internal/cienv"
)

const reportUsage = `Usage: gitops-status report pipeline|cron [flags] [CHANGED_FILE...]
       gitops-status report desired --repo REPO [--branch BRANCH] [--commit SHA] (see report desired -h)

Sends a deployment (pipeline) or drift check (cron) report and prints the
stored record. Changed files come from the arguments and from --changed-files
FILE (one per line; - reads standard input):

  git diff --name-only HEAD~1 HEAD | gitops-status report pipeline \
      --server-group rsyslog-prod --host rsyslog-01 --status synced --changed-files -

In Woodpecker, GitLab CI, GitHub Actions and Jenkins, commit_sha, branch and
updated_by are taken from the CI's variables when not given.

Exit status: 0 stored; 1 refused by the server (its reason on stderr) or a
wrong command line; 2 the server could not be reached (or answered only 5xx
or 429) until --timeout.

Every flag is also an environment variable: --url is GITOPS_STATUS_URL,
--token GITOPS_STATUS_TOKEN (GITOPS_STATUS_TOKEN_FILE reads it from a file).
`

// reportConfig is the command line of report pipeline and report cron.
type reportConfig struct {
	clientConfig
	kind string

	ServerGroup, Host, Status                             string
	ProjectName, RepoName, ServerType, Environment        string
	ValidationStatus, ValidationMessage                   string
	CommitSHA, Branch, UpdatedBy                          string
	StaleAfter, ReportedAt, ChangedFilesFrom, FromAnsible string
	Labels                                                labelsFlag
}

func (c *reportConfig) register(fs *flag.FlagSet) {
	c.clientConfig.register(fs)
	fs.StringVar(&c.ServerGroup, "server-group", "", "server_group of the server (required)")
	fs.StringVar(&c.Host, "host", "", "host of the server (required)")
	fs.StringVar(&c.Status, "status", "", "status: synced, out_of_sync, failed or unknown (required)")
	fs.StringVar(&c.ProjectName, "project-name", "", "project_name")
	fs.StringVar(&c.RepoName, "repo-name", "", "repo_name")
	fs.StringVar(&c.ServerType, "server-type", "", "server_type, e.g. rsyslog")
	fs.StringVar(&c.Environment, "environment", "", "environment, e.g. prod")
	fs.StringVar(&c.StaleAfter, "stale-after", "", "this server's own staleness threshold, a Go duration (\"30m\"; \"0s\" = never stale)")
	fs.StringVar(&c.ReportedAt, "reported-at", "", "when the state was observed (RFC 3339); older reports than the last applied one are not applied")
	fs.StringVar(&c.ChangedFilesFrom, "changed-files", "", "read changed files from this file, one per line; - reads standard input")
	if c.kind == "pipeline" {
		fs.StringVar(&c.ValidationStatus, "validation-status", "", "validation_status: passed, failed, skipped or unknown")
		fs.StringVar(&c.ValidationMessage, "validation-message", "", "validation_message")
		fs.StringVar(&c.CommitSHA, "commit-sha", "", "commit_sha (default: the CI's commit variable)")
		fs.StringVar(&c.Branch, "branch", "", "branch (default: the CI's branch variable)")
		fs.StringVar(&c.UpdatedBy, "updated-by", "", "updated_by (default: the CI user who started the pipeline, else the CI's name)")
		fs.Var(&c.Labels, "label", "a label KEY=VALUE; repeat for more")
	} else {
		fs.StringVar(&c.FromAnsible, "from-ansible", "", "report every host of this ansible-playbook --check --diff JSON output (- = standard input)")
	}
}

// labelsFlag collects repeated --label KEY=VALUE flags.
type labelsFlag map[string]string

func (l *labelsFlag) String() string {
	keys := make([]string, 0, len(*l))
	for k, v := range *l {
		keys = append(keys, k+"="+v)
	}
	sort.Strings(keys)
	return strings.Join(keys, ",")
}

func (l *labelsFlag) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("%q: use KEY=VALUE", s)
	}
	if *l == nil {
		*l = labelsFlag{}
	}
	(*l)[k] = v
	return nil
}

// runReport runs report pipeline|cron and returns the exit code.
func runReport(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, version string) int {
	if len(args) > 0 && args[0] == "desired" {
		return runReportDesired(ctx, args[1:], stdout, stderr, version, os.Getenv)
	}
	if len(args) == 0 || (args[0] != "pipeline" && args[0] != "cron") {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			fmt.Fprint(stdout, reportUsage)
			return exitOK
		}
		fmt.Fprint(stderr, reportUsage)
		return exitRefused
	}
	kind, rest := args[0], args[1:]
	cfg := &reportConfig{kind: kind}
	fs := newFlagSet("report "+kind, "[CHANGED_FILE...]")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), strings.Replace(reportUsage, "pipeline|cron", kind, 1), "\nFlags:\n")
		fs.PrintDefaults()
	}
	cfg.register(fs)
	rest = flagsFirst(fs, rest)
	if err := parseFlags(fs, rest, stderr); err != nil {
		return commandError(stderr, err)
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	explicit := explicitFlags((&reportConfig{kind: kind}).register, rest)
	if err := cfg.check(explicit); err != nil {
		return commandError(stderr, err)
	}
	c, err := cfg.newClient(version)
	if err != nil {
		return commandError(stderr, err)
	}
	// --timeout bounds the sending, not the reading of the input: a report
	// fed by a long ansible-playbook run or a slow pipe starts its clock
	// once the input is complete.
	if cfg.FromAnsible != "" {
		return cfg.reportAnsible(ctx, c, fs.Args(), set, stdin, stdout, stderr)
	}
	files, err := changedFiles(fs.Args(), cfg.ChangedFilesFrom, stdin)
	if err != nil {
		return commandError(stderr, err)
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	reportedAt, err := parseReportedAt(cfg.ReportedAt)
	if err != nil {
		return commandError(stderr, err)
	}
	var rec *gsclient.Record
	if kind == "pipeline" {
		r := cfg.pipelineReport(files, reportedAt, set, os.Getenv)
		if err := checkReport(r, gitops.ParsePipelineUpdate); err != nil {
			return commandError(stderr, err)
		}
		rec, err = c.Pipeline(ctx, r)
	} else {
		r := cfg.cronReport(files, reportedAt, set)
		if err := checkReport(r, gitops.ParseCronUpdate); err != nil {
			return commandError(stderr, err)
		}
		rec, err = c.Cron(ctx, r)
	}
	if err != nil {
		return failure(stderr, kind+" report", err)
	}
	printStored(stdout, stderr, cfg.Output, rec)
	return exitOK
}

// pipelineReport builds the report, filling commit_sha, branch and
// updated_by from the CI's variables when no flag or variable of ours set
// them (set, also when set to "").
func (c *reportConfig) pipelineReport(files []string, reportedAt time.Time, set map[string]bool, getenv func(string) string) gsclient.PipelineReport {
	r := gsclient.PipelineReport{
		ServerGroup: c.ServerGroup, Host: c.Host, Status: gitops.Status(c.Status),
		ProjectName: c.ProjectName, RepoName: c.RepoName, ServerType: c.ServerType, Environment: c.Environment,
		ChangedFiles: files, ValidationStatus: gitops.ValidationStatus(c.ValidationStatus), ValidationMessage: c.ValidationMessage,
		CommitSHA: c.CommitSHA, Branch: c.Branch, UpdatedBy: c.UpdatedBy,
		Labels: c.Labels, StaleAfter: c.StaleAfter, ReportedAt: gitops.Time{Time: reportedAt},
	}
	ci := cienv.Detect(getenv)
	if !set["commit-sha"] {
		r.CommitSHA = ci.CommitSHA
	}
	if !set["branch"] {
		r.Branch = ci.Branch
	}
	if !set["updated-by"] {
		r.UpdatedBy = ci.Actor
		if r.UpdatedBy == "" {
			r.UpdatedBy = ci.System
		}
	}
	return r
}

func (c *reportConfig) cronReport(files []string, reportedAt time.Time, set map[string]bool) gsclient.CronReport {
	r := gsclient.CronReport{
		ServerGroup: c.ServerGroup, Host: c.Host, Status: gitops.Status(c.Status), ChangedFiles: files,
		ProjectName: c.ProjectName, RepoName: c.RepoName, ServerType: c.ServerType, Environment: c.Environment,
		ReportedAt: gitops.Time{Time: reportedAt},
	}
	if set["stale-after"] {
		sa := c.StaleAfter
		r.StaleAfter = &sa
	}
	return r
}

// checkReport runs the report through the parser the server runs, so a
// report the server would refuse is refused here with the same sentence,
// before any retry could delay it. The server still decides: its clock
// checks reported_at.
func checkReport[U any](r any, parse func([]byte, gitops.ParseOptions) (U, []string, error)) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	if _, _, err := parse(b, gitops.ParseOptions{}); err != nil {
		msg := gitops.ErrorMessage(err)
		if f := gitops.ErrorField(err); f != "" {
			msg += " (flag --" + strings.ReplaceAll(f, "_", "-") + ")"
		}
		return fmt.Errorf("not sent: %s", msg)
	}
	return nil
}

func parseReportedAt(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := gitops.ParseTime(s)
	if err != nil {
		return time.Time{}, usageError{"--reported-at " + err.Error()}
	}
	return t, nil
}

// changedFiles returns the files named as arguments, then those read from
// the file from (one per line, surrounding spaces trimmed, empty lines
// skipped; "-" is standard input). With neither it returns nil.
func changedFiles(args []string, from string, stdin io.Reader) ([]string, error) {
	files := append([]string(nil), args...)
	if from == "" {
		return files, nil
	}
	var r io.Reader = stdin
	if from != "-" {
		f, err := os.Open(from)
		if err != nil {
			return nil, fmt.Errorf("--changed-files: %w", err)
		}
		defer f.Close()
		r = f
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line != "" {
			files = append(files, line)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("--changed-files %s: %w", from, err)
	}
	return files, nil
}

// printStored prints the stored record: its JSON as the server sent it, or
// one line; warnings go to stderr either way.
func printStored(stdout, stderr io.Writer, output string, rec *gsclient.Record) {
	for _, w := range rec.Warnings {
		fmt.Fprintf(stderr, "gitops-status: warning: %s\n", w)
	}
	if output == "json" {
		stdout.Write(rec.JSON)
		if len(rec.JSON) > 0 && rec.JSON[len(rec.JSON)-1] != '\n' {
			fmt.Fprintln(stdout)
		}
		return
	}
	fmt.Fprintf(stdout, "stored %s\n", recordLine(&rec.Server))
}

// recordLine is a record in one line: "group/host: status (details)".
func recordLine(s *gitops.Server) string {
	var parts []string
	if s.CommitSHA != "" {
		parts = append(parts, "commit "+shortSHA(s.CommitSHA))
	}
	if s.Branch != "" {
		parts = append(parts, "branch "+s.Branch)
	}
	if s.ValidationStatus != "" && s.ValidationStatus != gitops.ValidationUnknown {
		parts = append(parts, "validation "+string(s.ValidationStatus))
	}
	switch n := len(s.ChangedFiles); n {
	case 0:
	case 1:
		parts = append(parts, "1 changed file")
	default:
		parts = append(parts, fmt.Sprintf("%d changed files", n))
	}
	if s.Stale {
		parts = append(parts, "stale")
	}
	line := s.Key().String() + ": " + string(s.Status)
	if len(parts) > 0 {
		line += " (" + strings.Join(parts, ", ") + ")"
	}
	return line
}

func shortSHA(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}
