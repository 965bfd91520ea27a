package auth_test

import (
	"strings"
	"testing"

	"github.com/gitops-status/gitops-status/auth"
	"go.yaml.in/yaml/v3"
)

// FuzzParseTokens feeds the tokens file parser anything: it never panics,
// a refusal is one line, and an accepted file holds valid tokens, each of
// whose plain secrets authenticates as its own entry.
func FuzzParseTokens(f *testing.F) {
	for _, s := range []string{
		specExample,
		`{"tokens":[{"name":"a","sha256":"` + auth.HashToken("x") + `","scopes":["admin"],"groups":["g-*"]}]}`,
		"tokens:\n  - name: a\n    token: aaaaaaaaaaaaaaaaaaaa\n    scopes: &s [pipeline]\n  - name: b\n    token: bbbbbbbbbbbbbbbbbbbbb\n    scopes: *s\n",
		"tokens: []\n", "tokens:\n", "", "tokens: [abc]\n", "- a\n", "tokens: [{name: x, token: y, scopes: [read], groups: ['[']}]",
		"tokens: [{name: x, token: y, sha256: z, scopes: [read]}]", "a: &a [*a]\n", "tokens: *x\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		toks, _, err := auth.Parse(data)
		if err != nil {
			if msg := err.Error(); msg == "" || strings.Contains(msg, "\n") {
				t.Fatalf("refusal %q is not one line", msg)
			}
			return
		}
		if toks.Len() == 0 {
			t.Fatal("accepted a file without tokens")
		}
		var doc struct {
			Tokens []map[string]any `yaml:"tokens"`
		}
		if yaml.Unmarshal(data, &doc) != nil {
			return // the reference decoder disagrees on something exotic; nothing to compare
		}
		readSeen := false
		for _, e := range doc.Tokens {
			// Only string-typed values compare: the reference decoder turns
			// an unquoted 0 into a number, the parser keeps the characters.
			name, nameOK := e["name"].(string)
			secret, ok := e["token"].(string)
			ok = ok && nameOK
			if scopes, ok := e["scopes"].([]any); ok {
				for _, s := range scopes {
					if str, _ := s.(string); strings.EqualFold(str, "read") {
						readSeen = true
					}
				}
			} else if s, _ := e["scopes"].(string); strings.EqualFold(s, "read") {
				readSeen = true
			}
			if !ok {
				continue
			}
			p := toks.Lookup(secret)
			if p == nil || p.Name != name {
				t.Fatalf("token of entry %q does not authenticate as it: %+v", name, p)
			}
			if err := p.Validate(); err != nil {
				t.Fatalf("accepted an invalid token: %v", err)
			}
		}
		if readSeen != toks.ReadsProtected() {
			t.Fatalf("a token with the read scope: %v; ReadsProtected: %v", readSeen, toks.ReadsProtected())
		}
	})
}
