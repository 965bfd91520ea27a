package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"
)

// runHealthcheck asks the server on this machine whether it is ready (GET
// /ready) and fails unless it answers 200. It is the container's
// HEALTHCHECK, which has no shell or curl to run. It reads the same
// --addr and --tls-cert (and GITOPS_STATUS_ADDR, GITOPS_STATUS_TLS_CERT)
// as serve, so it needs no configuration of its own.
//
// Every failure, a bad command line included, exits 1: Docker reserves
// the exit code 2 of a health check.
func runHealthcheck(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("healthcheck", "")
	addr := fs.String("addr", ":5000", "address serve listens on; an empty or unspecified host (:5000, 0.0.0.0:5000) means this machine's loopback")
	cert := fs.String("tls-cert", "", "serve's TLS certificate (PEM); when set, check over HTTPS that the server presents exactly this certificate")
	timeout := fs.Duration("timeout", 3*time.Second, "give up after this long")
	if err := parseFlags(fs, args, stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return healthError{err}
	}
	if fs.NArg() > 0 {
		return healthError{fmt.Errorf("healthcheck takes no arguments, got %q", fs.Args())}
	}
	url, client, err := healthClient(*addr, *cert)
	if err != nil {
		return healthError{err}
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return healthError{err}
	}
	resp, err := client.Do(req)
	if err != nil {
		return healthError{fmt.Errorf("not ready: %v", err)}
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
	if resp.StatusCode != http.StatusOK {
		return healthError{fmt.Errorf("not ready: GET %s answered %s: %s", url, resp.Status, bytes.TrimSpace(body))}
	}
	fmt.Fprintf(stdout, "ready: %s\n", url)
	return nil
}

// healthError is a failed health check. It hides a usageError it wraps
// (it has no Unwrap), so Run exits 1 for it, never 2.
type healthError struct{ err error }

func (e healthError) Error() string { return e.err.Error() }

// healthClient returns the /ready URL for serve's listen address and a
// client for it. An unspecified host becomes the loopback address, since
// the check runs beside the server. With a certificate, the client trusts
// exactly that certificate and nothing else: the server's name (often a
// public DNS name, not 127.0.0.1) is not checked, the key it proves is.
func healthClient(addr, certFile string) (string, *http.Client, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", nil, fmt.Errorf("--addr %q: %v; use host:port or :port", addr, err)
	}
	switch ip := net.ParseIP(host); {
	case host == "", ip != nil && ip.IsUnspecified() && ip.To4() != nil:
		host = "127.0.0.1"
	case ip != nil && ip.IsUnspecified():
		host = "::1"
	}
	transport := &http.Transport{Proxy: nil, DisableKeepAlives: true}
	client := &http.Client{
		Transport: transport,
		// A redirect would lead away from the server being checked.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	scheme := "http"
	if certFile != "" {
		pinned, err := firstCertificate(certFile)
		if err != nil {
			return "", nil, err
		}
		scheme = "https"
		transport.TLSClientConfig = &tls.Config{
			// Verification is VerifyConnection's: the server must present
			// the pinned certificate, which is stricter than a CA check.
			InsecureSkipVerify: true,
			VerifyConnection: func(cs tls.ConnectionState) error {
				if len(cs.PeerCertificates) == 0 || !bytes.Equal(cs.PeerCertificates[0].Raw, pinned) {
					return fmt.Errorf("the server's certificate is not the one in %s", certFile)
				}
				return nil
			},
		}
	}
	return scheme + "://" + net.JoinHostPort(host, port) + "/ready", client, nil
}

// firstCertificate returns the DER bytes of the first certificate in a PEM
// file: the leaf, as serve presents it.
func firstCertificate(file string) ([]byte, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("--tls-cert: %v", err)
	}
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return nil, fmt.Errorf("--tls-cert %s holds no PEM CERTIFICATE block", file)
		}
		if b.Type == "CERTIFICATE" {
			return b.Bytes, nil
		}
	}
}
