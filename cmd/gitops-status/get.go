package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	gitops "github.com/gitops-status/gitops-status"
	gsclient "github.com/gitops-status/gitops-status/client"
)

const getUsage = `Usage: gitops-status get [flags] [GROUP [HOST]]

Shows every server, one group's, or one server's record: a table for people
(status coloured on a terminal), -o json for scripts (the server's JSON as it
sent it), --watch to refresh.

Exit status: 0 shown; 1 refused by the server (unknown group or server, bad
filter, token) or a wrong command line; 2 the server could not be reached.

Every flag is also an environment variable: --url is GITOPS_STATUS_URL,
--token GITOPS_STATUS_TOKEN (GITOPS_STATUS_TOKEN_FILE reads it from a file).
`

// getConfig is the command line of get.
type getConfig struct {
	clientConfig
	Watch       bool
	Interval    time.Duration
	Status      listFlag
	Environment listFlag
	ServerType  listFlag
	Stale       bool
}

func (c *getConfig) register(fs *flag.FlagSet) {
	c.clientConfig.register(fs)
	fs.BoolVar(&c.Watch, "watch", false, "refresh every --interval until interrupted")
	fs.DurationVar(&c.Interval, "interval", 5*time.Second, "refresh interval of --watch")
	fs.Var(&c.Status, "status", "only servers with this status (repeat or comma-separate for several)")
	fs.Var(&c.Environment, "environment", "only servers of this environment (repeat or comma-separate for several)")
	fs.Var(&c.ServerType, "server-type", "only servers of this server_type (repeat or comma-separate for several)")
	fs.BoolVar(&c.Stale, "stale", false, "only stale servers")
}

// listFlag collects a repeated, comma-separable flag.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(s string) error {
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			*l = append(*l, v)
		}
	}
	return nil
}

// runGet runs get [GROUP [HOST]] and returns the exit code (those of
// report: 1 refused or not found, 2 unreachable).
func runGet(ctx context.Context, args []string, stdout, stderr io.Writer, version string) int {
	cfg := &getConfig{}
	fs := newFlagSet("get", "[GROUP [HOST]]")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), getUsage, "\nFlags:\n")
		fs.PrintDefaults()
	}
	cfg.register(fs)
	args = flagsFirst(fs, args)
	if err := parseFlags(fs, args, stderr); err != nil {
		return commandError(stderr, err)
	}
	if err := cfg.check(explicitFlags((&getConfig{}).register, args)); err != nil {
		return commandError(stderr, err)
	}
	pos := fs.Args()
	if len(pos) > 2 {
		return commandError(stderr, usageError{"get takes at most a group and a host: gitops-status get [GROUP [HOST]]"})
	}
	if cfg.Watch && cfg.Interval <= 0 {
		return commandError(stderr, usageError{"--interval must be positive"})
	}
	f := gitops.Filter{Environment: cfg.Environment, ServerType: cfg.ServerType}
	for _, s := range cfg.Status {
		st, err := gitops.ParseStatus("--status", s)
		if err != nil {
			return commandError(stderr, usageError{gitops.ErrorMessage(err)})
		}
		f.Status = append(f.Status, st)
	}
	if cfg.Stale {
		f.Stale = &cfg.Stale
	}
	api, err := cfg.newClient(version)
	if err != nil {
		return commandError(stderr, err)
	}
	v := &view{out: stdout, json: cfg.Output == "json", color: colorable(stdout)}
	fetch := func(ctx context.Context) error {
		switch len(pos) {
		case 2:
			rec, err := api.Get(ctx, pos[0], pos[1])
			if err != nil {
				return err
			}
			v.record(rec, time.Now())
		case 1:
			p, err := api.Group(ctx, pos[0], f)
			if err != nil {
				return err
			}
			v.page(p, time.Now(), stderr)
		default:
			p, err := api.List(ctx, f)
			if err != nil {
				return err
			}
			v.page(p, time.Now(), stderr)
		}
		return nil
	}
	if !cfg.Watch {
		ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
		defer cancel()
		if err := fetch(ctx); err != nil {
			return failure(stderr, "get", err)
		}
		return exitOK
	}
	return watch(ctx, cfg, v, fetch, stderr, strings.Join(append([]string{"gitops-status get"}, args...), " "))
}

// watch refreshes until ctx is done (Ctrl-C), then exits 0. On a terminal
// it redraws the screen; otherwise each refresh follows the last (with -o
// json, one document per line). A failed refresh says why and the next one
// tries again.
func watch(ctx context.Context, cfg *getConfig, v *view, fetch func(context.Context) error, stderr io.Writer, title string) int {
	for {
		if v.color {
			fmt.Fprintf(v.out, "\x1b[H\x1b[2J%s  every %s  %s\n\n", title, cfg.Interval, time.Now().Format("15:04:05"))
		}
		rctx, cancel := context.WithTimeout(ctx, min(cfg.Timeout, cfg.Interval))
		err := fetch(rctx)
		cancel()
		if ctx.Err() != nil {
			return exitOK
		}
		if err != nil {
			failure(stderr, "get", err)
		}
		if !v.color && !v.json {
			fmt.Fprintln(v.out)
		}
		select {
		case <-ctx.Done():
			return exitOK
		case <-time.After(cfg.Interval):
		}
	}
}

// colorable reports whether w is a terminal that takes colours: a
// character device, with NO_COLOR unset and TERM not "dumb".
func colorable(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok || os.Getenv("NO_COLOR") != "" || os.Getenv("TERM") == "dumb" {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// view prints what get fetched.
type view struct {
	out   io.Writer
	json  bool
	color bool
}

func (v *view) page(p *gsclient.Page, now time.Time, stderr io.Writer) {
	if v.json {
		writeJSONLine(v.out, p.JSON)
		return
	}
	if len(p.Servers) == 0 {
		fmt.Fprintln(stderr, "No servers match.")
		return
	}
	writeTable(v.out, p.Servers, now, v.color)
}

func (v *view) record(r *gsclient.Record, now time.Time) {
	if v.json {
		writeJSONLine(v.out, r.JSON)
		return
	}
	writeDetail(v.out, &r.Server, now, v.color)
}

func writeJSONLine(w io.Writer, b []byte) {
	w.Write(b)
	if len(b) == 0 || b[len(b)-1] != '\n' {
		fmt.Fprintln(w)
	}
}
