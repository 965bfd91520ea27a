package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"

	"github.com/gitops-status/gitops-status/auth"
	"github.com/gitops-status/gitops-status/httpapi"
)

// loadAuth reads the tokens of --tokens-file and GITOPS_STATUS_TOKENS. It
// returns nil (authentication off) when neither is set; an error is the
// one line naming the source and the entry at fault.
func loadAuth(cfg serveConfig) (*auth.Authenticator, []string, error) {
	c := auth.Config{File: cfg.TokensFile, Inline: os.Getenv(auth.EnvVar)}
	if !c.Enabled() {
		return nil, nil, nil
	}
	return auth.New(c)
}

// logAuth says at start whether authentication is on, and with what.
func logAuth(logger *slog.Logger, a *auth.Authenticator, warnings []string) {
	if a == nil {
		logger.Warn("authentication is off: anyone who can reach this service can write to it; set --tokens-file (see the README's security section)")
		return
	}
	logTokens(logger, "authentication on", a.Tokens(), warnings)
}

func logTokens(logger *slog.Logger, msg string, t *auth.Tokens, warnings []string) {
	for _, w := range warnings {
		logger.Warn(w)
	}
	logger.Info(msg, "tokens", t.Len(), "names", t.Names(), "reads_protected", t.ReadsProtected())
}

// authenticator returns a as an httpapi.Authenticator: nil stays an
// untyped nil, so the API sees authentication off.
func authenticator(a *auth.Authenticator) httpapi.Authenticator {
	if a == nil {
		return nil
	}
	return a
}

// certHolder keeps the TLS certificate in force and swaps it whole on
// reload, so that certificates rotate without a restart: handshakes in
// progress keep the one they started with.
type certHolder struct {
	certFile, keyFile string
	cert              atomic.Pointer[tls.Certificate]
}

func newCertHolder(certFile, keyFile string) (*certHolder, error) {
	h := &certHolder{certFile: certFile, keyFile: keyFile}
	if err := h.load(); err != nil {
		return nil, err
	}
	return h, nil
}

// load reads the certificate and key; on error the one in force stays.
func (h *certHolder) load() error {
	c, err := tls.LoadX509KeyPair(h.certFile, h.keyFile)
	if err != nil {
		return fmt.Errorf("cannot load --tls-cert %s and --tls-key %s: %v", h.certFile, h.keyFile, err)
	}
	h.cert.Store(&c)
	return nil
}

func (h *certHolder) getCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return h.cert.Load(), nil
}

// logCert logs what certificate is in force and when it expires.
func (h *certHolder) logCert(logger *slog.Logger, msg string) {
	c := h.cert.Load()
	if c.Leaf == nil {
		logger.Info(msg, "cert", h.certFile)
		return
	}
	logger.Info(msg, "cert", h.certFile, "subject", c.Leaf.Subject.String(), "not_after", c.Leaf.NotAfter)
}

// tlsConfig is the server's TLS configuration: TLS 1.2 at least, the
// certificate from h at every handshake.
func (h *certHolder) tlsConfig() *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: h.getCertificate,
	}
}

// reloadOnHUP reloads the tokens and the TLS certificate on every SIGHUP
// until ctx ends. A source that fails to load keeps what is in force, and
// the log says why; requests are never held while a reload runs. Either of
// a and certs may be nil.
func reloadOnHUP(ctx context.Context, logger *slog.Logger, a *auth.Authenticator, certs *certHolder, hooks *notifier) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		defer signal.Stop(hup)
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				reload(logger, a, certs, hooks)
			}
		}
	}()
}

func reload(logger *slog.Logger, a *auth.Authenticator, certs *certHolder, hooks *notifier) {
	if a == nil && certs == nil && !hooks.fromFile() {
		logger.Info("SIGHUP: nothing to reload (no --tokens-file, GITOPS_STATUS_TOKENS, --tls-cert or --webhooks-file)")
		return
	}
	hooks.reload(logger)
	if a != nil {
		if t, warnings, err := a.Reload(); err != nil {
			logger.Error("SIGHUP: tokens not reloaded; the previous tokens stay in force", "err", err.Error())
		} else {
			logTokens(logger, "SIGHUP: tokens reloaded", t, warnings)
		}
	}
	if certs != nil {
		if err := certs.load(); err != nil {
			logger.Error("SIGHUP: TLS certificate not reloaded; the previous one stays in force", "err", err.Error())
		} else {
			certs.logCert(logger, "SIGHUP: TLS certificate reloaded")
		}
	}
}

// maxHashInput bounds what hash-token reads: a token is far shorter.
const maxHashInput = 4096

// runHashToken prints the SHA-256 of the token on stdin, what a tokens
// file's sha256 field holds so that the file need not hold the token. One
// line is read; its line ending is not part of the token.
func runHashToken(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("hash-token", "< token-file")
	fs.Usage = func() {
		_, _ = io.WriteString(fs.Output(), `Usage: gitops-status hash-token < token-file

Reads one token from standard input and prints its SHA-256 in hex, for the
sha256 field of a tokens file:

  printf %s "$TOKEN" | gitops-status hash-token
`)
	}
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{"hash-token reads the token from standard input and takes no arguments (an argument would end up in the shell's history)"}
	}
	data, err := io.ReadAll(io.LimitReader(stdin, maxHashInput+1))
	if err != nil {
		return fmt.Errorf("reading the token from standard input: %v", err)
	}
	if len(data) > maxHashInput {
		return errors.New("standard input holds more than 4096 bytes; give one token")
	}
	data = bytes.TrimSuffix(data, []byte("\n"))
	data = bytes.TrimSuffix(data, []byte("\r"))
	token := string(data)
	if strings.Contains(token, "\n") {
		return errors.New("standard input holds more than one line; give one token")
	}
	if err := auth.ValidateToken(token); err != nil {
		return err
	}
	fmt.Fprintln(stdout, auth.HashToken(token))
	return nil
}
