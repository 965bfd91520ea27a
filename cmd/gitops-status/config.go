package main

import (
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	gitops "github.com/gitops-status/gitops-status"
	"github.com/gitops-status/gitops-status/auth"
)

// envPrefix prefixes the environment variable of every flag.
const envPrefix = "GITOPS_STATUS_"

// storeConfig selects and configures the store; every command that touches
// data shares it.
type storeConfig struct {
	DataDir     string
	DatabaseURL string
	LegacyGroup string
	StaleAfter  time.Duration
}

func (c *storeConfig) register(fs *flag.FlagSet) {
	fs.StringVar(&c.DataDir, "data-dir", "./data", "directory of the embedded SQLite database (status.db) and the default import file")
	fs.StringVar(&c.DatabaseURL, "database-url", "", "PostgreSQL URL (postgres://user@host/db?sslmode=…); empty = embedded SQLite in --data-dir")
	fs.StringVar(&c.LegacyGroup, "legacy-group", "", "server_group of legacy v1 updates and v1 imports; empty = the v1 repo")
	fs.DurationVar(&c.StaleAfter, "stale-after", 0, "a server is stale when its newest report is older than this (Go duration); 0 = off")
}

// serveConfig is the configuration of the serve command.
type serveConfig struct {
	storeConfig
	Addr             string
	ImportFile       string
	HistoryRetention time.Duration
	MaxBodyBytes     int64
	MaxClockSkew     time.Duration
	TLSCert          string
	TLSKey           string
	LogFormat        string
	LogLevel         string
	ShutdownTimeout  time.Duration
	DebugAddr        string
	TokensFile       string
	WebhooksFile     string
	PublicURL        string
	GitWebhookSecret string

	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration
	MaxHeaderBytes    int
}

func (c *serveConfig) register(fs *flag.FlagSet) {
	c.storeConfig.register(fs)
	fs.StringVar(&c.Addr, "addr", ":5000", "address to listen on")
	fs.StringVar(&c.ImportFile, "import-file", "", "status.json imported on first start (v1 or v2); default <data-dir>/status.json")
	fs.DurationVar(&c.HistoryRetention, "history-retention", 2160*time.Hour, "events older than this are pruned; 0 = keep forever")
	fs.Int64Var(&c.MaxBodyBytes, "max-body-bytes", 1<<20, "largest request body accepted, in bytes")
	fs.DurationVar(&c.MaxClockSkew, "max-clock-skew", 5*time.Minute, "how far ahead of the server's clock a reported_at may be")
	fs.StringVar(&c.TLSCert, "tls-cert", "", "TLS certificate file (PEM); with --tls-key, serve HTTPS")
	fs.StringVar(&c.TLSKey, "tls-key", "", "TLS private key file (PEM)")
	fs.StringVar(&c.LogFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&c.LogLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", 30*time.Second, "how long SIGTERM waits for in-flight requests")
	fs.StringVar(&c.DebugAddr, "debug-addr", "", "address of a second listener serving Go profiles at /debug/pprof/ (e.g. 127.0.0.1:6060); empty = off")
	fs.StringVar(&c.TokensFile, "tokens-file", "", "YAML (or JSON) file of bearer tokens; reloaded on SIGHUP; empty = authentication off unless "+auth.EnvVar+" holds tokens")
	fs.StringVar(&c.WebhooksFile, "webhooks-file", "", "YAML (or JSON) file of webhooks notified of drift, failure, recovery and staleness (docs/notifications.md); reloaded on SIGHUP; empty = none")
	fs.StringVar(&c.PublicURL, "public-url", "", "URL users reach this service at (https://gitops-status.example.com); notifications then link to the server's page")
	fs.StringVar(&c.GitWebhookSecret, "git-webhook-secret", "", "secret of the GitHub, Gitea/Forgejo and GitLab push webhooks POST /hooks/git takes (use "+envPrefix+"GIT_WEBHOOK_SECRET_FILE to read it from a file); empty = the route answers 404")
	fs.DurationVar(&c.ReadHeaderTimeout, "read-header-timeout", 10*time.Second, "how long a client may take to send a request's headers")
	fs.DurationVar(&c.ReadTimeout, "read-timeout", time.Minute, "how long a client may take to send a whole request, body included")
	fs.DurationVar(&c.WriteTimeout, "write-timeout", time.Minute, "how long an answer may take to be handled and written; long lists get this long again for every 256 KiB the client reads")
	fs.DurationVar(&c.IdleTimeout, "idle-timeout", 2*time.Minute, "how long a keep-alive connection may wait for its next request")
	fs.IntVar(&c.MaxHeaderBytes, "max-header-bytes", 64<<10, "largest request line and headers accepted, in bytes (431 beyond)")
}

func (c *serveConfig) validate() error {
	if c.LegacyGroup != "" {
		if err := gitops.ValidateIdentifier("--legacy-group", c.LegacyGroup); err != nil {
			return usageError{gitops.ErrorMessage(err)}
		}
	}
	if c.ImportFile == "" {
		c.ImportFile = filepath.Join(c.DataDir, "status.json")
	}
	switch {
	case c.LogFormat != "text" && c.LogFormat != "json":
		return usageError{fmt.Sprintf("--log-format %q: use text or json", c.LogFormat)}
	case c.MaxBodyBytes <= 0:
		return usageError{"--max-body-bytes must be positive"}
	case c.MaxClockSkew < 0, c.HistoryRetention < 0, c.StaleAfter < 0:
		return usageError{"durations must not be negative"}
	case (c.TLSCert == "") != (c.TLSKey == ""):
		return usageError{"--tls-cert and --tls-key go together"}
	case c.ReadHeaderTimeout <= 0, c.ReadTimeout <= 0, c.WriteTimeout <= 0, c.IdleTimeout <= 0:
		return usageError{"--read-header-timeout, --read-timeout, --write-timeout and --idle-timeout must be positive: a connection without a deadline can be held open forever"}
	case c.MaxHeaderBytes < 4096:
		return usageError{"--max-header-bytes must be at least 4096"}
	}
	if c.PublicURL != "" {
		u, err := url.Parse(c.PublicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			return usageError{fmt.Sprintf("--public-url %q: use an absolute http:// or https:// URL such as https://gitops-status.example.com", c.PublicURL)}
		}
	}
	return nil
}

// parseFlags parses args into fs, then fills every flag the command line did
// not set from its environment variable (GITOPS_STATUS_DATA_DIR for
// --data-dir), or from the file named by its _FILE variant, so secrets such
// as a database URL can come from a mounted file.
func parseFlags(fs *flag.FlagSet, args []string, stderr io.Writer) error {
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return err
		}
		return usageError{err.Error()}
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] || err != nil {
			return
		}
		name := envPrefix + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		v, ok := os.LookupEnv(name)
		if !ok {
			path, okFile := os.LookupEnv(name + "_FILE")
			if !okFile {
				return
			}
			b, rerr := os.ReadFile(path)
			if rerr != nil {
				err = fmt.Errorf("%s_FILE: %w", name, rerr)
				return
			}
			v = strings.TrimSpace(string(b))
		}
		if serr := fs.Set(f.Name, v); serr != nil {
			err = usageError{fmt.Sprintf("%s=%q: %v", name, v, serr)}
		}
	})
	return err
}

func newFlagSet(name, args string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: gitops-status %s [flags] %s\n\nEvery flag is also an environment variable: --data-dir is %sDATA_DIR.\n\nFlags:\n", name, args, envPrefix)
		fs.PrintDefaults()
	}
	return fs
}
