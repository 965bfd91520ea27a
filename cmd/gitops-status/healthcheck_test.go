package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// healthcheck runs the real binary's healthcheck with env added and returns
// its exit code and output.
func healthcheck(t *testing.T, env []string, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(binPath, append([]string{"healthcheck"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		if _, ok := err.(*exec.ExitError); !ok {
			t.Fatal(err)
		}
	}
	return cmd.ProcessState.ExitCode(), string(out)
}

func TestHealthcheck(t *testing.T) {
	port := freePort(t)
	p := startServe(t, nil, "--data-dir", t.TempDir(), "--addr", fmt.Sprintf("127.0.0.1:%d", port))
	notReady := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, `{"status":"unavailable","error":"database unavailable"}`)
	}))
	defer notReady.Close()
	closed := freePort(t)

	for _, tt := range []struct {
		name string
		env  []string
		args []string
		want int
		out  string
	}{
		{"ready, by flag", nil, []string{"--addr", strings.TrimPrefix(p.URL, "http://")}, 0, "ready"},
		{"ready, by serve's env var and an unspecified host", []string{fmt.Sprintf("GITOPS_STATUS_ADDR=:%d", port)}, nil, 0, "ready"},
		{"ready, 0.0.0.0 means loopback", nil, []string{"--addr", fmt.Sprintf("0.0.0.0:%d", port)}, 0, "ready"},
		{"store not ready", nil, []string{"--addr", strings.TrimPrefix(notReady.URL, "http://")}, 1, "503"},
		{"nothing listening", nil, []string{"--addr", fmt.Sprintf("127.0.0.1:%d", closed)}, 1, "not ready"},
		{"bad address is 1, not 2", nil, []string{"--addr", "nonsense"}, 1, "--addr"},
		{"unknown flag is 1, not 2", nil, []string{"--bogus"}, 1, "bogus"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, out := healthcheck(t, tt.env, tt.args...)
			if code != tt.want || !strings.Contains(out, tt.out) {
				t.Fatalf("exit %d, %q; want exit %d and %q", code, out, tt.want, tt.out)
			}
		})
	}
}

// TestHealthcheckTLS: with --tls-cert, healthcheck speaks HTTPS and accepts
// only the certificate serve was given, although it names another host.
func TestHealthcheckTLS(t *testing.T) {
	dir := t.TempDir()
	cert, key := writeCert(t, dir, "gitops.example.com")
	other, _ := writeCert(t, t.TempDir(), "gitops.example.com")
	port := freePort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	startServe(t, nil, "--data-dir", t.TempDir(), "--addr", addr, "--tls-cert", cert, "--tls-key", key)

	if code, out := healthcheck(t, []string{"GITOPS_STATUS_TLS_CERT=" + cert}, "--addr", addr); code != 0 || !strings.Contains(out, "https://") {
		t.Fatalf("with serve's certificate: exit %d, %q; want 0 over https", code, out)
	}
	if code, out := healthcheck(t, nil, "--addr", addr, "--tls-cert", other); code != 1 || !strings.Contains(out, "not the one in") {
		t.Fatalf("with another certificate: exit %d, %q; want 1 naming the mismatch", code, out)
	}
	if code, out := healthcheck(t, nil, "--addr", addr); code != 1 {
		t.Fatalf("plain HTTP against a TLS server: exit %d, %q; want 1", code, out)
	}
}

// writeCert writes a self-signed certificate for name and its key into dir.
func writeCert(t *testing.T, dir, name string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: name},
		DNSNames:     []string{name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// TestVersionStamps: the -ldflags stamps make build and the Dockerfile set
// are what version prints.
func TestVersionStamps(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "gitops-status")
	build := exec.Command("go", "build", "-o", bin,
		"-ldflags", "-X main.version=v9.8.7 -X main.commit=0123abc -X main.date=2026-12-01T10:00:00Z", ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "version").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"gitops-status v9.8.7\n", "commit: 0123abc\n", "built:  2026-12-01T10:00:00Z\n"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("version printed %q; want it to contain %q", out, want)
		}
	}
	// Without stamps (go build, go install) it still says something for each.
	out, _ = exec.Command(binPath, "version").Output()
	if lines := strings.Split(strings.TrimSpace(string(out)), "\n"); len(lines) != 4 || !strings.HasPrefix(lines[1], "commit: ") || len(lines[1]) <= len("commit: ") {
		t.Errorf("unstamped version printed %q", out)
	}
}
