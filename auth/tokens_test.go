package auth_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	gitops "github.com/gitops-status/gitops-status"
	"github.com/gitops-status/gitops-status/auth"
)

// specExample is the tokens file of SPEC §8.
const specExample = `tokens:
  - name: woodpecker          # becomes updated_by when a body omits it
    token: "s3cret"           # or: sha256: "<hex of the token>"
    scopes: [pipeline, cron]  # read | pipeline | cron | admin
    groups: ["rsyslog-*"]     # optional; globs of server_group it may write
  - name: grafana
    token: "r3ad"
    scopes: [read]
`

func TestParseSpecExample(t *testing.T) {
	toks, warnings, err := auth.Parse([]byte(specExample))
	if err != nil {
		t.Fatal(err)
	}
	if toks.Len() != 2 || !toks.ReadsProtected() {
		t.Fatalf("Len %d, ReadsProtected %v; want 2 tokens and protected reads", toks.Len(), toks.ReadsProtected())
	}
	wp := toks.Lookup("s3cret")
	if wp == nil || wp.Name != "woodpecker" || !slices.Equal(wp.Scopes, []gitops.Scope{gitops.ScopePipeline, gitops.ScopeCron}) ||
		!slices.Equal(wp.Groups, []string{"rsyslog-*"}) {
		t.Fatalf("woodpecker = %+v", wp)
	}
	if g := toks.Lookup("r3ad"); g == nil || g.Name != "grafana" || len(g.Groups) != 0 {
		t.Fatalf("grafana = %+v", g)
	}
	for _, bad := range []string{"", "s3cre", "s3cret ", "S3CRET", "r3adr3ad"} {
		if p := toks.Lookup(bad); p != nil {
			t.Errorf("Lookup(%q) = %q, want no token", bad, p.Name)
		}
	}
	// Both example tokens are short: each gets a warning naming its entry,
	// never the secret.
	if len(warnings) != 2 || !strings.Contains(warnings[0], `entry 1 ("woodpecker", line 2)`) {
		t.Fatalf("warnings = %q", warnings)
	}
	for _, w := range warnings {
		if strings.Contains(w, "s3cret") || strings.Contains(w, "r3ad\"") {
			t.Fatalf("a warning quotes a secret: %q", w)
		}
	}
}

func TestParseJSONAndHashes(t *testing.T) {
	secret := "0123456789abcdef0123456789abcdef"
	doc := fmt.Sprintf(`{"tokens": [
		{"name": "cron-host", "sha256": %q, "scopes": ["CRON"]},
		{"name": "ops", "token": "ops-0123456789abcdef", "scopes": ["admin"]}
	]}`, strings.ToUpper(auth.HashToken(secret)))
	toks, warnings, err := auth.Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 0 {
		t.Fatalf("warnings for long tokens: %q", warnings)
	}
	if p := toks.Lookup(secret); p == nil || p.Name != "cron-host" || !p.Has(gitops.ScopeCron) || p.Has(gitops.ScopePipeline) {
		t.Fatalf("hashed token = %+v", p)
	}
	if p := toks.Lookup(auth.HashToken(secret)); p != nil {
		t.Fatal("the hash itself must not work as a token")
	}
	// Only an admin token: admin implies read, but reads stay open until a
	// token is given the read scope by name (SPEC §8).
	if toks.ReadsProtected() {
		t.Fatal("an admin and a cron token protect reads; only a read token should")
	}
}

func TestHashToken(t *testing.T) {
	// sha256("s3cret"), as `printf %s s3cret | sha256sum` prints it.
	if got, want := auth.HashToken("s3cret"), "1ec1c26b50d5d3c58d9583181af8076655fe00756bf7285940ba3670f99fcba0"; got != want {
		t.Fatalf("HashToken = %s, want %s", got, want)
	}
}

func TestParseRefusals(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want []string // substrings of the one-line error
	}{
		{"not YAML", "tokens: [\n", []string{"does not parse as YAML or JSON", "line"}},
		{"empty", "", []string{"empty"}},
		{"comment only", "# nothing\n", []string{"empty"}},
		{"not a mapping", "- a\n- b\n", []string{"must be a mapping with a \"tokens:\" list"}},
		{"unknown top-level key", "tokens: []\ntokenz: []\n", []string{`unknown key "tokenz"`}},
		{"no tokens key", "{}", []string{`no "tokens:" list`}},
		{"no tokens", "tokens: []\n", []string{"no tokens"}},
		{"null tokens", "tokens:\n", []string{"no tokens"}},
		{"tokens not a list", "tokens: abc\n", []string{`"tokens" must be a list`}},
		{"entry not a mapping", "tokens: [abc]\n", []string{"entry 1 (line 1)", "must be a mapping"}},
		{"no name", "tokens:\n  - token: abcdefabcdefabcdef\n    scopes: [read]\n", []string{"entry 1 (line 2)", "no name"}},
		{"no secret", "tokens:\n  - name: grafana\n    scopes: [read]\n", []string{`entry 1 ("grafana", line 2)`, "no secret"}},
		{"both secrets", "tokens:\n  - name: g\n    token: abcdefabcdefabcdef\n    sha256: " + strings.Repeat("a", 64) + "\n    scopes: [read]\n",
			[]string{`entry 1 ("g"`, "both token and sha256"}},
		{"unknown scope", "tokens:\n  - name: ok\n    token: aaaaaaaaaaaaaaaaaaaa\n    scopes: [read]\n  - name: grafana\n    token: bbbbbbbbbbbbbbbbbbbb\n    scopes: [reed]\n",
			[]string{`entry 2 ("grafana", line 5)`, `scope "reed" is not one of "read", "pipeline", "cron", "admin"`}},
		{"no scopes", "tokens:\n  - name: g\n    token: abcdefabcdefabcdef\n", []string{`entry 1 ("g"`, "no scopes"}},
		{"empty scopes", "tokens:\n  - name: g\n    token: abcdefabcdefabcdef\n    scopes: []\n", []string{"no scopes"}},
		{"bad glob", "tokens:\n  - name: ci\n    token: abcdefabcdefabcdef\n    scopes: [pipeline]\n    groups: [\"rsyslog-[\"]\n",
			[]string{`entry 1 ("ci"`, `"rsyslog-[" is not a valid glob`}},
		{"unknown key", "tokens:\n  - name: ci\n    token: abcdefabcdefabcdef\n    scope: [pipeline]\n", []string{`entry 1 ("ci"`, `unknown key "scope"`}},
		{"repeated key", "tokens:\n  - name: ci\n    token: abcdefabcdefabcdef\n    token: abcdefabcdefabcdeg\n    scopes: [read]\n", []string{`key "token" is given twice`}},
		{"bad sha256", "tokens:\n  - name: ci\n    sha256: abc\n    scopes: [read]\n", []string{`entry 1 ("ci"`, "64 hexadecimal digits"}},
		{"token with a space", "tokens:\n  - name: ci\n    token: \"abc defabcdefabcdef\"\n    scopes: [read]\n", []string{`entry 1 ("ci"`, "printable ASCII"}},
		{"scopes a mapping", "tokens:\n  - name: ci\n    token: abcdefabcdefabcdef\n    scopes: {a: b}\n", []string{"scopes must be a list of strings"}},
		{"token a list", "tokens:\n  - name: ci\n    token: [abcdefabcdefabcdef]\n    scopes: [read]\n", []string{"token must be a string"}},
		{"same secret twice", "tokens:\n  - name: a\n    token: abcdefabcdefabcdef\n    scopes: [read]\n  - name: b\n    sha256: " + auth.HashToken("abcdefabcdefabcdef") + "\n    scopes: [admin]\n",
			[]string{`entry 2 ("b", line 5) has the same secret as`, `entry 1 ("a", line 2)`}},
		{"two documents", "tokens: []\n---\ntokens: []\n", []string{"more than one YAML document"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := auth.Parse([]byte(tt.doc))
			if err == nil {
				t.Fatal("parsed; want a refusal")
			}
			msg := err.Error()
			if strings.Contains(msg, "\n") {
				t.Fatalf("error is more than one line: %q", msg)
			}
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Fatalf("error %q does not contain %q", msg, w)
				}
			}
			for _, secret := range []string{"abcdefabcdefabcdef", "aaaaaaaaaaaa", "bbbbbbbbbbbb", "abc def"} {
				if strings.Contains(msg, secret) {
					t.Fatalf("error quotes a secret: %q", msg)
				}
			}
		})
	}
}

func TestParseAcceptsYAMLNiceties(t *testing.T) {
	doc := `tokens:
  - name: a
    token: aaaaaaaaaaaaaaaaaaaa
    scopes: &ci [pipeline, cron]
  - name: b
    token: bbbbbbbbbbbbbbbbbbbb
    scopes: *ci
    groups: nginx-*
  - name: c
    token: 1234567890123456789
    scopes: read
`
	toks, _, err := auth.Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	b := toks.Lookup("bbbbbbbbbbbbbbbbbbbb")
	if b == nil || !b.Has(gitops.ScopeCron) || !slices.Equal(b.Groups, []string{"nginx-*"}) {
		t.Fatalf("aliased scopes and a single group: %+v", b)
	}
	// A number is read as the characters written, not as a number.
	if c := toks.Lookup("1234567890123456789"); c == nil || c.Name != "c" {
		t.Fatalf("numeric token: %+v", c)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestAuthenticatorReload(t *testing.T) {
	file := filepath.Join(t.TempDir(), "tokens.yaml")
	writeFile(t, file, "tokens:\n  - {name: old, token: old-0123456789abcdef, scopes: [pipeline]}\n")
	a, _, err := auth.New(auth.Config{File: file, Inline: `{"tokens":[{"name":"env","token":"env-0123456789abcdef","scopes":["read"]}]}`})
	if err != nil {
		t.Fatal(err)
	}
	mustAuth := func(token, wantName string) {
		t.Helper()
		p, err := a.Authenticate(token)
		switch {
		case wantName == "" && err == nil:
			t.Fatalf("token %s authenticated as %q; want refused", token, p.Name)
		case wantName == "" && gitops.ErrorCode(err) != gitops.EUNAUTHORIZED:
			t.Fatalf("token %s: %v; want %s", token, err, gitops.EUNAUTHORIZED)
		case wantName != "" && (err != nil || p.Name != wantName):
			t.Fatalf("token %s: %v %v; want %q", token, p, err, wantName)
		}
	}
	mustAuth("old-0123456789abcdef", "old")
	mustAuth("env-0123456789abcdef", "env")
	if !a.ReadsProtected() {
		t.Fatal("the environment's read token must protect reads")
	}

	writeFile(t, file, "tokens:\n  - {name: new, token: new-0123456789abcdef, scopes: [pipeline]}\n")
	if _, _, err := a.Reload(); err != nil {
		t.Fatal(err)
	}
	mustAuth("new-0123456789abcdef", "new")
	mustAuth("old-0123456789abcdef", "")
	mustAuth("env-0123456789abcdef", "env") // the environment is kept

	// A bad file keeps the tokens in force.
	writeFile(t, file, "tokens:\n  - {name: broken, token: x-0123456789abcdef, scopes: [wrte]}\n")
	if _, _, err := a.Reload(); err == nil || !strings.Contains(err.Error(), `entry 1 ("broken"`) {
		t.Fatalf("reload of a bad file: %v", err)
	}
	mustAuth("new-0123456789abcdef", "new")
	os.Remove(file)
	if _, _, err := a.Reload(); err == nil {
		t.Fatal("reload of a missing file succeeded")
	}
	mustAuth("new-0123456789abcdef", "new")

	// The environment's secret may not repeat in the file.
	writeFile(t, file, "tokens:\n  - {name: dup, token: env-0123456789abcdef, scopes: [admin]}\n")
	if _, _, err := a.Reload(); err == nil || !strings.Contains(err.Error(), "same secret") {
		t.Fatalf("a file repeating the environment's token: %v", err)
	}
}

func TestNewRefusesNothingAndBadFiles(t *testing.T) {
	if _, _, err := auth.New(auth.Config{}); err == nil {
		t.Fatal("New without a source succeeded")
	}
	if _, _, err := auth.New(auth.Config{File: filepath.Join(t.TempDir(), "missing.yaml")}); err == nil || !strings.Contains(err.Error(), "tokens file") {
		t.Fatalf("missing file: %v", err)
	}
	big := filepath.Join(t.TempDir(), "big.yaml")
	writeFile(t, big, "tokens: []\n"+strings.Repeat("#", 2<<20))
	if _, _, err := auth.New(auth.Config{File: big}); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("2 MiB file: %v", err)
	}
}

// TestReloadUnderLoad swaps the tokens while requests authenticate: every
// request sees a whole set, the old or the new, so a token present in both
// is never refused.
func TestReloadUnderLoad(t *testing.T) {
	file := filepath.Join(t.TempDir(), "tokens.yaml")
	stable := "tokens:\n  - {name: stable, token: stable-0123456789abcdef, scopes: [pipeline]}\n"
	writeFile(t, file, stable)
	a, _, err := auth.New(auth.Config{File: file})
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := a.Authenticate("stable-0123456789abcdef"); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for i := range 200 {
		writeFile(t, file, fmt.Sprintf("%s  - {name: n%d, token: extra-%d-0123456789abcdef, scopes: [read]}\n", stable, i, i))
		if _, _, err := a.Reload(); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("a token present in every set was refused during reloads: %v", err)
	}
}

// BenchmarkLookup measures the check every authenticated request pays:
// hashing the token and comparing it with each of 20 tokens.
func BenchmarkLookup(b *testing.B) {
	doc := "tokens:\n"
	for i := range 20 {
		doc += fmt.Sprintf("  - {name: t%d, token: token-%02d-0123456789abcdef0123456789abcdef, scopes: [pipeline]}\n", i, i)
	}
	toks, _, err := auth.Parse([]byte(doc))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if toks.Lookup("token-19-0123456789abcdef0123456789abcdef") == nil {
			b.Fatal("not found")
		}
	}
}
