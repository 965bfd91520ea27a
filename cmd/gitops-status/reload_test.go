package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// waitFor polls cond until it holds, or fails the test after 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestTokensRotateOnSIGHUP rotates a token the way the README says, under
// a steady stream of writes: add the new token, SIGHUP, switch, remove the
// old one, SIGHUP. No write with a token present in both files is refused
// or dropped on the way, a bad file on reload keeps the tokens in force,
// and once the read token is gone reads are open again.
func TestTokensRotateOnSIGHUP(t *testing.T) {
	file := filepath.Join(t.TempDir(), "tokens.yaml")
	stable := credential{name: "cron-host", header: "Bearer stable-0011223344556677", scopes: []string{"cron"}}
	oldTok := credential{name: "woodpecker", header: "Bearer old-8899aabbccddeeff", scopes: []string{"pipeline"}}
	newTok := credential{name: "woodpecker", header: "Bearer new-0123456789abcdef", scopes: []string{"pipeline"}}
	reader := credential{name: "grafana", header: "Bearer read-fedcba9876543210", scopes: []string{"read"}}
	writeTokensFile(t, file, []credential{stable, oldTok, reader})
	p := startServe(t, nil, "--data-dir", t.TempDir(), "--tokens-file", file)
	hup := func() {
		t.Helper()
		if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
	}
	write := func(c credential, host string) int {
		code, _, _ := request(t, "POST", p.URL+"/status/pipeline", `{"server_group":"g","host":"`+host+`","status":"synced"}`, c.header)
		return code
	}

	// Writers with the stable token run through every reload.
	var sent, failed atomic.Int64
	var firstFailure atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := fmt.Sprintf(`{"server_group":"g","host":"cron-%d","status":"out_of_sync","changed_files":["/etc/x"]}`, w)
			for {
				select {
				case <-stop:
					return
				default:
				}
				req, _ := http.NewRequest("POST", p.URL+"/status/cron", strings.NewReader(body))
				req.Header.Set("Authorization", stable.header)
				resp, err := client.Do(req)
				sent.Add(1)
				if err != nil {
					failed.Add(1)
					firstFailure.CompareAndSwap(nil, err.Error())
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					failed.Add(1)
					firstFailure.CompareAndSwap(nil, resp.Status)
				}
			}
		}()
	}

	if code := write(newTok, "h"); code != 401 {
		t.Fatalf("the new token before it is added: %d, want 401", code)
	}
	// 1. Add the new token beside the old one.
	writeTokensFile(t, file, []credential{stable, oldTok, newTok, reader})
	hup()
	waitFor(t, "the added token accepted", func() bool { return write(newTok, "h") == 200 })
	if code := write(oldTok, "h"); code != 200 {
		t.Fatalf("the old token while both are listed: %d", code)
	}
	// A broken file on reload keeps both.
	os.WriteFile(file, []byte("tokens: [\n"), 0o600)
	hup()
	waitFor(t, "the bad file logged", func() bool {
		return strings.Contains(p.stderr.String(), "tokens not reloaded; the previous tokens stay in force")
	})
	if write(oldTok, "h") != 200 || write(newTok, "h") != 200 {
		t.Fatal("a bad file on reload changed the tokens in force")
	}
	// Many reloads in a row, under the writers.
	for i := range 20 {
		list := []credential{stable, oldTok, newTok, reader}
		if i%2 == 1 {
			list = []credential{reader, newTok, oldTok, stable}
		}
		writeTokensFile(t, file, list)
		hup()
		time.Sleep(10 * time.Millisecond)
	}
	// 2. Remove the old token and the read token.
	writeTokensFile(t, file, []credential{stable, newTok})
	hup()
	waitFor(t, "the removed token refused", func() bool { return write(oldTok, "h") == 401 })
	if code := write(newTok, "h"); code != 200 {
		t.Fatalf("the new token after the rotation: %d", code)
	}
	var servers []map[string]any
	if code := getJSON(t, p.URL+"/status", &servers); code != 200 {
		t.Fatalf("with no read token left, GET /status without a token = %d, want open reads", code)
	}

	close(stop)
	wg.Wait()
	if failed.Load() > 0 || sent.Load() < 50 {
		t.Fatalf("%d of %d writes with a token present in every file failed during the reloads (first: %v)", failed.Load(), sent.Load(), firstFailure.Load())
	}
	t.Logf("%d writes during %d reloads, none refused", sent.Load(), 24)
	select {
	case <-p.done:
		t.Fatalf("SIGHUP stopped the process:\n%s", p.stderr)
	default:
	}
}

// newCert writes a self-signed certificate for 127.0.0.1 named cn, and its
// key, as PEM files under dir.
func newCert(t *testing.T, dir, cn string) (certFile, keyFile string, der []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err = x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, cn+".crt"), filepath.Join(dir, cn+".key")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	return certFile, keyFile, der
}

// TestTLSReloadOnSIGHUP serves HTTPS, refuses TLS 1.1, and picks up a
// rotated certificate on SIGHUP without a restart; a broken one on reload
// keeps the one in force.
func TestTLSReloadOnSIGHUP(t *testing.T) {
	dir := t.TempDir()
	aCert, aKey, aDER := newCert(t, dir, "cert-a")
	bCert, bKey, bDER := newCert(t, dir, "cert-b")
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	install := func(c, k string) {
		t.Helper()
		for _, f := range [][2]string{{c, certFile}, {k, keyFile}} {
			b, err := os.ReadFile(f[0])
			if err != nil {
				t.Fatal(err)
			}
			os.WriteFile(f[1]+".tmp", b, 0o600)
			os.Rename(f[1]+".tmp", f[1])
		}
	}
	install(aCert, aKey)
	p := startServe(t, nil, "--data-dir", t.TempDir(), "--tls-cert", certFile, "--tls-key", keyFile)
	addr := strings.TrimPrefix(p.URL, "http://")
	roots := x509.NewCertPool()
	for _, der := range [][]byte{aDER, bDER} {
		c, _ := x509.ParseCertificate(der)
		roots.AddCert(c)
	}
	served := func() string {
		t.Helper()
		tc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: roots}, DisableKeepAlives: true}}
		resp, err := tc.Get("https://" + addr + "/health")
		if err != nil {
			t.Fatalf("HTTPS: %v", err)
		}
		resp.Body.Close()
		return resp.TLS.PeerCertificates[0].Subject.CommonName
	}
	if cn := served(); cn != "cert-a" {
		t.Fatalf("serving %q, want cert-a", cn)
	}
	old := &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}
	if conn, err := tls.Dial("tcp", addr, old); err == nil {
		conn.Close()
		t.Fatal("a TLS 1.1 handshake succeeded; the minimum is TLS 1.2")
	}

	install(bCert, bKey)
	p.cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, "the rotated certificate served", func() bool { return served() == "cert-b" })

	os.WriteFile(certFile, []byte("not a certificate"), 0o600)
	p.cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, "the broken certificate logged", func() bool {
		return strings.Contains(p.stderr.String(), "TLS certificate not reloaded; the previous one stays in force")
	})
	if cn := served(); cn != "cert-b" {
		t.Fatalf("after a broken certificate on reload, serving %q, want cert-b", cn)
	}
}

// TestBadSecurityConfigRefusesToStart: a tokens file or certificate that
// cannot be used stops serve with one line naming what is wrong (the
// entry, for tokens), and no secret.
func TestBadSecurityConfigRefusesToStart(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		file string
		env  []string
		args []string
		want []string
	}{
		{"unknown scope", "tokens:\n  - {name: ci, token: s3cret-0123456789ab, scopes: [pipeline]}\n  - {name: grafana, token: r3ad-0123456789abcd, scopes: [raed]}\n", nil, nil,
			[]string{`entry 2 ("grafana", line 3)`, `scope "raed" is not one of`}},
		{"no name", "tokens:\n  - {token: s3cret-0123456789ab, scopes: [read]}\n", nil, nil, []string{"entry 1 (line 2)", "no name"}},
		{"no secret", "tokens:\n  - {name: ci, scopes: [read]}\n", nil, nil, []string{`entry 1 ("ci"`, "no secret"}},
		{"bad glob", "tokens:\n  - {name: ci, token: s3cret-0123456789ab, scopes: [pipeline], groups: ['a[']}\n", nil, nil, []string{`entry 1 ("ci"`, "not a valid glob"}},
		{"does not parse", "tokens: [\n", nil, nil, []string{"does not parse as YAML or JSON"}},
		{"missing file", "", nil, []string{"--tokens-file", filepath.Join(dir, "missing.yaml")}, []string{"tokens file", "no such file"}},
		{"bad env tokens", "", []string{"GITOPS_STATUS_TOKENS={\"tokens\":[{\"name\":\"x\",\"token\":\"s3cret-0123456789ab\"}]}"}, nil,
			[]string{"GITOPS_STATUS_TOKENS", `entry 1 ("x"`, "no scopes"}},
		{"bad certificate", "", nil, []string{"--tls-cert", filepath.Join(dir, "none.crt"), "--tls-key", filepath.Join(dir, "none.key")}, []string{"cannot load --tls-cert"}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"serve", "--addr", "127.0.0.1:0", "--data-dir", t.TempDir()}, tt.args...)
			if tt.file != "" {
				f := filepath.Join(dir, fmt.Sprintf("tokens-%d.yaml", i))
				os.WriteFile(f, []byte(tt.file), 0o600)
				args = append(args, "--tokens-file", f)
			}
			cmd := exec.Command(binPath, args...)
			cmd.Env = append(os.Environ(), tt.env...)
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("serve started:\n%s", out)
			}
			lines := strings.Split(strings.TrimSpace(string(out)), "\n")
			if len(lines) != 1 {
				t.Fatalf("want one line, got %d:\n%s", len(lines), out)
			}
			for _, w := range tt.want {
				if !strings.Contains(lines[0], w) {
					t.Fatalf("%q does not say %q", lines[0], w)
				}
			}
			if strings.Contains(lines[0], "s3cret") || strings.Contains(lines[0], "r3ad") {
				t.Fatalf("the refusal shows a secret: %s", lines[0])
			}
		})
	}
}

// TestTokensFromEnvironment: GITOPS_STATUS_TOKENS adds tokens beside the
// file, and GITOPS_STATUS_TOKENS_FILE names the file like --tokens-file.
func TestTokensFromEnvironment(t *testing.T) {
	file := filepath.Join(t.TempDir(), "tokens.yaml")
	writeTokensFile(t, file, []credential{matrixTokens[1]}) // woodpecker
	p := startServe(t, []string{
		"GITOPS_STATUS_TOKENS_FILE=" + file,
		`GITOPS_STATUS_TOKENS={"tokens":[{"name":"env-cron","token":"env-0123456789abcdef","scopes":["cron"]}]}`,
	}, "--data-dir", t.TempDir())
	body := `{"server_group":"g","host":"h","status":"synced"}`
	if code, b, _ := request(t, "POST", p.URL+"/status/pipeline", body, matrixTokens[1].header); code != 200 {
		t.Fatalf("the file's token: %d %s", code, b)
	}
	if code, b, _ := request(t, "POST", p.URL+"/status/cron", body, "Bearer env-0123456789abcdef"); code != 200 {
		t.Fatalf("the environment's token: %d %s", code, b)
	}
	if code, _, _ := request(t, "POST", p.URL+"/status/cron", body, ""); code != 401 {
		t.Fatalf("no token: %d", code)
	}
}

// TestHashTokenCommand: the hash printed is the one a tokens file's
// sha256 takes, for the token with or without its line ending.
func TestHashTokenCommand(t *testing.T) {
	want := "1ec1c26b50d5d3c58d9583181af8076655fe00756bf7285940ba3670f99fcba0" // printf %s s3cret | sha256sum
	for _, in := range []string{"s3cret", "s3cret\n", "s3cret\r\n"} {
		cmd := exec.Command(binPath, "hash-token")
		cmd.Stdin = strings.NewReader(in)
		out, err := cmd.Output()
		if err != nil || strings.TrimSpace(string(out)) != want {
			t.Fatalf("hash-token < %q = %q, %v; want %s", in, out, err, want)
		}
	}
	for _, in := range []string{"", "\n", "two\nlines\n", "has space"} {
		cmd := exec.Command(binPath, "hash-token")
		cmd.Stdin = strings.NewReader(in)
		out, err := cmd.CombinedOutput()
		if err == nil {
			t.Fatalf("hash-token < %q succeeded: %s", in, out)
		}
	}
	// The printed hash works in a tokens file.
	file := filepath.Join(t.TempDir(), "tokens.yaml")
	os.WriteFile(file, []byte("tokens:\n  - {name: ci, sha256: "+want+", scopes: [pipeline]}\n"), 0o600)
	p := startServe(t, nil, "--data-dir", t.TempDir(), "--tokens-file", file)
	if code, b, _ := request(t, "POST", p.URL+"/status/pipeline", `{"server_group":"g","host":"h","status":"synced"}`, "Bearer s3cret"); code != 200 {
		t.Fatalf("the hashed token: %d %s", code, b)
	}
}
