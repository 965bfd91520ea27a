package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	gsclient "github.com/gitops-status/gitops-status/client"
)

// Exit codes of report and get. 2 means "not stored, try again later", so
// a pipeline may choose to tolerate an unreachable status service with
// `|| [ $? -eq 2 ]` while a wrong report (1) still fails it.
const (
	exitOK          = 0
	exitRefused     = 1 // the server refused (4xx), or the command line or input is wrong
	exitUnreachable = 2 // no answer, or only 5xx/429, until --timeout
)

// clientConfig is what the commands that talk to a server share.
type clientConfig struct {
	URL       string
	Token     string
	TokenFile string
	CAFile    string
	Timeout   time.Duration
	Output    string
}

func (c *clientConfig) register(fs *flag.FlagSet) {
	fs.StringVar(&c.URL, "url", "http://localhost:5000", "gitops-status server URL (with a path prefix when it is mounted under one)")
	fs.StringVar(&c.Token, "token", "", "bearer token sent with every request")
	fs.StringVar(&c.TokenFile, "token-file", "", "file holding the bearer token (instead of --token)")
	fs.StringVar(&c.CAFile, "ca-file", "", "PEM file of CA certificates to trust for an https:// URL, besides the system's")
	fs.DurationVar(&c.Timeout, "timeout", time.Minute, "give up after this long, retries included")
	fs.StringVar(&c.Output, "o", "text", "output format: text or json")
}

// check validates the configuration; explicit names the flags given on the
// command line rather than by the environment.
func (c *clientConfig) check(explicit map[string]bool) error {
	if c.Output != "text" && c.Output != "json" {
		return usageError{fmt.Sprintf("-o %q: use text or json", c.Output)}
	}
	if c.Timeout <= 0 {
		return usageError{"--timeout must be positive"}
	}
	// The command line wins over the environment; GITOPS_STATUS_TOKEN_FILE
	// already filled --token from the file when GITOPS_STATUS_TOKEN is unset.
	switch {
	case explicit["token"] && explicit["token-file"]:
		return usageError{"give --token or --token-file, not both"}
	case explicit["token-file"]:
		b, err := os.ReadFile(c.TokenFile)
		if err != nil {
			return fmt.Errorf("--token-file: %w", err)
		}
		c.Token = strings.TrimSpace(string(b))
	}
	return nil
}

// newClient makes the API client: token, private CA, and a retry policy
// that keeps trying until --timeout (the caller's context deadline).
func (c *clientConfig) newClient(version string) (*gsclient.Client, error) {
	hc := &http.Client{}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("--ca-file: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--ca-file %s: no PEM certificate found in it", c.CAFile)
		}
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
		hc.Transport = tr
	}
	return gsclient.New(c.URL,
		gsclient.WithToken(c.Token),
		gsclient.WithHTTPClient(hc),
		gsclient.WithUserAgent("gitops-status/"+version),
		gsclient.WithRetry(gsclient.RetryPolicy{
			InitialDelay:   500 * time.Millisecond,
			MaxDelay:       5 * time.Second,
			Jitter:         0.5,
			AttemptTimeout: min(30*time.Second, c.Timeout),
		}))
}

// explicitFlags returns the names of the flags args sets on the command
// line, by parsing args into a throwaway copy of the command's flags:
// parseFlags fills the others from the environment, which then looks the
// same.
func explicitFlags(register func(*flag.FlagSet), args []string) map[string]bool {
	fs := flag.NewFlagSet("", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	register(fs)
	set := map[string]bool{}
	if fs.Parse(args) == nil {
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	}
	return set
}

// failure prints why a request failed and returns the exit code.
func failure(stderr io.Writer, what string, err error) int {
	var ae *gsclient.Error
	var ue *gsclient.UnreachableError
	switch {
	case errors.As(err, &ae) && !ae.Temporary():
		msg := ae.Message
		if ae.Field != "" {
			msg += " (field " + ae.Field + ")"
		}
		fmt.Fprintf(stderr, "gitops-status: %s refused by the server (%d %s): %s\n", what, ae.StatusCode, http.StatusText(ae.StatusCode), msg)
		return exitRefused
	case errors.As(err, &ae):
		fmt.Fprintf(stderr, "gitops-status: %s failed: the server answered %d %s after %d attempts: %s\n", what, ae.StatusCode, http.StatusText(ae.StatusCode), ae.Attempts, ae.Message)
		return exitUnreachable
	case errors.As(err, &ue) && errors.Is(err, context.Canceled):
		fmt.Fprintf(stderr, "gitops-status: %s interrupted: %v\n", what, err)
		return exitRefused
	case errors.As(err, &ue) && !gsclient.Temporary(err):
		// The server's certificate: retrying cannot help, a flag can.
		fmt.Fprintf(stderr, "gitops-status: %s failed: %v (--ca-file adds a private CA)\n", what, err)
		return exitRefused
	case gsclient.Temporary(err):
		fmt.Fprintf(stderr, "gitops-status: %s failed: %v\n", what, err)
		return exitUnreachable
	default:
		fmt.Fprintf(stderr, "gitops-status: %s failed: %v\n", what, err)
		return exitRefused
	}
}

// commandError prints a local error (flags, input) and returns its exit
// code: 0 for -h, else 1.
func commandError(stderr io.Writer, err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	fmt.Fprintf(stderr, "gitops-status: %v\n", err)
	return exitRefused
}

// flagsFirst moves the flags of args before the other arguments, so that
// flags may follow them (`report cron FILE -o json` must not report "-o"
// as a changed file). "--" still ends the flags.
func flagsFirst(fs *flag.FlagSet, args []string) []string {
	var flags, rest []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			rest = append(rest, args[i+1:]...)
			break
		}
		if len(a) < 2 || a[0] != '-' {
			rest = append(rest, a)
			continue
		}
		flags = append(flags, a)
		name := strings.TrimLeft(a, "-")
		if strings.Contains(name, "=") {
			continue
		}
		f := fs.Lookup(name)
		if f == nil { // fs.Parse reports it
			continue
		}
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
			continue
		}
		if i+1 < len(args) {
			flags = append(flags, args[i+1])
			i++
		}
	}
	return append(append(flags, "--"), rest...)
}
