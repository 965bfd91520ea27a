package auth

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"

	gitops "github.com/gitops-status/gitops-status"
	"go.yaml.in/yaml/v3"
)

// Tokens is one immutable set of tokens, as read from the tokens file and
// the environment. It is safe for concurrent use.
type Tokens struct {
	entries        []entry
	readsProtected bool
}

// entry is one token: the SHA-256 digest of its secret, never the secret
// itself, and who presenting it makes a request.
type entry struct {
	digest    [sha256.Size]byte
	principal *gitops.Principal
}

// Len returns the number of tokens.
func (t *Tokens) Len() int { return len(t.entries) }

// ReadsProtected reports whether some token has the read scope, which makes
// every read need one (SPEC §8). An admin token alone does not: admin
// implies read, but only a token given the read scope by name turns the
// protection of reads on, so that a file holding only write and admin
// tokens keeps Grafana's anonymous reads working.
func (t *Tokens) ReadsProtected() bool { return t.readsProtected }

// Names returns the name and scopes of every token, for the log at load
// ("grafana[read]"). Names are not secret.
func (t *Tokens) Names() []string {
	out := make([]string, len(t.entries))
	for i, e := range t.entries {
		sc := make([]string, len(e.principal.Scopes))
		for j, s := range e.principal.Scopes {
			sc[j] = string(s)
		}
		out[i] = e.principal.Name + "[" + strings.Join(sc, ",") + "]"
	}
	return out
}

// Lookup returns the principal of the token whose secret is token, or nil.
// It hashes token and compares the digest with every stored digest in
// constant time, without stopping at a match, so neither the answer's time
// nor its position tells which token matched or how much of one did.
func (t *Tokens) Lookup(token string) *gitops.Principal {
	d := digest(token)
	found := -1
	for i := range t.entries {
		eq := subtle.ConstantTimeCompare(d[:], t.entries[i].digest[:])
		found = subtle.ConstantTimeSelect(eq, i, found)
	}
	if found < 0 {
		return nil
	}
	return t.entries[found].principal
}

// digest is the SHA-256 of token. A token of usual length is copied to
// the stack rather than converted, which would allocate on every request.
func digest(token string) [sha256.Size]byte {
	var buf [128]byte
	if len(token) <= len(buf) {
		return sha256.Sum256(append(buf[:0], token...))
	}
	return sha256.Sum256([]byte(token))
}

// HashToken returns the lower-case hex SHA-256 of a token: what a tokens
// file's sha256 field holds in place of the token.
func HashToken(token string) string {
	d := sha256.Sum256([]byte(token))
	return hex.EncodeToString(d[:])
}

// ValidateToken checks that a secret can travel in an Authorization header
// as it is: printable ASCII without spaces. The error never repeats it.
func ValidateToken(token string) error {
	if token == "" {
		return errors.New("the token is empty")
	}
	for i := 0; i < len(token); i++ {
		if c := token[i]; c <= ' ' || c > '~' {
			return errors.New("the token holds a space, a control or a non-ASCII character, which an Authorization header cannot carry as it is; use printable ASCII such as the output of `openssl rand -hex 32`")
		}
	}
	return nil
}

// minTokenLen is the shortest plain token loaded without a warning: 16
// random characters are beyond guessing over HTTP.
const minTokenLen = 16

// maxSourceBytes bounds a tokens file: thousands of tokens fit in far less.
const maxSourceBytes = 1 << 20

// source is one place tokens come from: a tokens file or the environment.
type source struct {
	name string // "tokens file /etc/gitops-status/tokens.yaml", for messages
	data []byte
}

// Parse reads one tokens document (YAML as in SPEC §8; JSON is YAML too)
// into a set of tokens. The error is one line naming the entry at fault and
// never contains a secret. Warnings are lines worth logging (short plain
// tokens).
func Parse(data []byte) (*Tokens, []string, error) {
	return parse([]source{{name: "tokens", data: data}})
}

// parse reads every source into one set. Secrets must differ across all
// of them, and at least one token must be configured.
func parse(sources []source) (*Tokens, []string, error) {
	t := &Tokens{}
	var warnings []string
	seen := map[[sha256.Size]byte]string{} // digest → where it was first seen
	for _, src := range sources {
		entries, w, err := parseSource(src)
		if err != nil {
			return nil, nil, err
		}
		warnings = append(warnings, w...)
		for _, pe := range entries {
			if first, dup := seen[pe.entry.digest]; dup {
				return nil, nil, fmt.Errorf("%s: %s has the same secret as %s; every token must be different", src.name, pe.where, first)
			}
			seen[pe.entry.digest] = src.name + " " + pe.where
			t.entries = append(t.entries, pe.entry)
			if containsScope(pe.entry.principal.Scopes, gitops.ScopeRead) {
				t.readsProtected = true
			}
		}
	}
	if len(t.entries) == 0 {
		names := make([]string, len(sources))
		for i, s := range sources {
			names[i] = s.name
		}
		return nil, nil, fmt.Errorf("%s: no tokens: list at least one under \"tokens:\" (with no token every write would be refused)", strings.Join(names, " and "))
	}
	return t, warnings, nil
}

func containsScope(scopes []gitops.Scope, s gitops.Scope) bool {
	for _, have := range scopes {
		if have == s {
			return true
		}
	}
	return false
}

// parsedEntry is an entry with where it was found, for messages.
type parsedEntry struct {
	entry entry
	where string // `entry 2 ("grafana", line 7)`
}

// parseSource reads one document. It walks the YAML nodes itself rather
// than decoding into a struct, so that an unknown or repeated key is
// refused, every message names the entry and its line, and no message ever
// quotes a value that could be a secret.
func parseSource(src source) ([]parsedEntry, []string, error) {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("%s: %s", src.name, fmt.Sprintf(format, args...))
	}
	if len(src.data) > maxSourceBytes {
		return nil, nil, fail("larger than %d bytes; a tokens file holds a short list of tokens", maxSourceBytes)
	}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(src.data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil, fail("empty; it needs a \"tokens:\" list")
		}
		return nil, nil, fail("does not parse as YAML or JSON: %s", oneLine(err))
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, nil, fail("holds more than one YAML document; put every token in one \"tokens:\" list")
	}
	root := resolve(&doc)
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = resolve(root.Content[0])
	}
	if root.Kind != yaml.MappingNode {
		return nil, nil, fail("line %d: the document must be a mapping with a \"tokens:\" list", root.Line)
	}
	var list *yaml.Node
	err := eachKey(root, func(key string, v *yaml.Node) error {
		if key != "tokens" {
			return fmt.Errorf("line %d: unknown key %q; the file holds only \"tokens:\"", v.Line, key)
		}
		list = v
		return nil
	})
	if err != nil {
		return nil, nil, fail("%s", err)
	}
	if list == nil {
		return nil, nil, fail("no \"tokens:\" list")
	}
	if list.Kind == yaml.ScalarNode && list.Tag == "!!null" {
		return nil, nil, nil // "tokens:" with nothing under it; parse refuses if no source has any
	}
	if list.Kind != yaml.SequenceNode {
		return nil, nil, fail("line %d: \"tokens\" must be a list of tokens", list.Line)
	}
	var out []parsedEntry
	var warnings []string
	for i, n := range list.Content {
		pe, w, err := parseEntry(i+1, resolve(n))
		if err != nil {
			return nil, nil, fail("%s", err)
		}
		if w != "" {
			warnings = append(warnings, fmt.Sprintf("%s: %s: %s", src.name, pe.where, w))
		}
		out = append(out, pe.parsedEntry)
	}
	return out, warnings, nil
}

// entryKeys are the keys a token entry may have.
var entryKeys = []string{"name", "token", "sha256", "scopes", "groups"}

type entryResult struct {
	parsedEntry
}

// parseEntry reads the i-th (from 1) token entry. The warning, if any, is
// about a short plain token.
func parseEntry(i int, n *yaml.Node) (entryResult, string, error) {
	var r entryResult
	r.where = fmt.Sprintf("entry %d (line %d)", i, n.Line)
	if n.Kind != yaml.MappingNode {
		return r, "", fmt.Errorf("%s: a token must be a mapping with name, token or sha256, and scopes", r.where)
	}
	var (
		p                 gitops.Principal
		token, sum        string
		hasToken, hasHash bool
		scopesNode        *yaml.Node
	)
	// The name first, so that every later message can say which token.
	_ = eachKey(n, func(key string, v *yaml.Node) error {
		if key == "name" && v.Kind == yaml.ScalarNode {
			p.Name = v.Value
			r.where = fmt.Sprintf("entry %d (%q, line %d)", i, p.Name, n.Line)
		}
		return nil
	})
	err := eachKey(n, func(key string, v *yaml.Node) error {
		switch key {
		case "name":
			if v.Kind != yaml.ScalarNode {
				return fmt.Errorf("name must be a string")
			}
		case "token":
			if v.Kind != yaml.ScalarNode {
				return fmt.Errorf("token must be a string")
			}
			token, hasToken = v.Value, true
		case "sha256":
			if v.Kind != yaml.ScalarNode {
				return fmt.Errorf("sha256 must be a string of 64 hexadecimal digits")
			}
			sum, hasHash = v.Value, true
		case "scopes":
			scopesNode = v
		case "groups":
			gs, err := stringList(v, "groups")
			if err != nil {
				return err
			}
			p.Groups = gs
		default:
			return fmt.Errorf("unknown key %q; a token has %s", key, strings.Join(entryKeys, ", "))
		}
		return nil
	})
	if err != nil {
		return r, "", fmt.Errorf("%s: %v", r.where, err)
	}
	if scopesNode != nil {
		names, err := stringList(scopesNode, "scopes")
		if err != nil {
			return r, "", fmt.Errorf("%s: %v", r.where, err)
		}
		for _, s := range names {
			sc, err := gitops.ParseScope(s)
			if err != nil {
				return r, "", fmt.Errorf("%s: %s", r.where, gitops.ErrorMessage(err))
			}
			if !containsScope(p.Scopes, sc) {
				p.Scopes = append(p.Scopes, sc)
			}
		}
	}
	if err := p.Validate(); err != nil {
		return r, "", fmt.Errorf("%s: %s", r.where, gitops.ErrorMessage(err))
	}
	var warning string
	switch {
	case hasToken && hasHash:
		return r, "", fmt.Errorf("%s: has both token and sha256; give one of them", r.where)
	case hasToken:
		if err := ValidateToken(token); err != nil {
			return r, "", fmt.Errorf("%s: %v", r.where, err)
		}
		r.entry.digest = sha256.Sum256([]byte(token))
		if len(token) < minTokenLen {
			warning = fmt.Sprintf("the token is only %d characters long; use at least %d random ones (openssl rand -hex 32)", len(token), minTokenLen)
		}
	case hasHash:
		b, err := hex.DecodeString(sum)
		if err != nil || len(b) != sha256.Size {
			return r, "", fmt.Errorf("%s: sha256 must be 64 hexadecimal digits, the output of `gitops-status hash-token`", r.where)
		}
		copy(r.entry.digest[:], b)
	default:
		return r, "", fmt.Errorf("%s: has no secret; give token (the token itself) or sha256 (its hash, from `gitops-status hash-token`)", r.where)
	}
	r.entry.principal = &p
	return r, warning, nil
}

// eachKey calls fn for every key of a mapping node, with its value
// (aliases resolved), and refuses a key given twice.
func eachKey(m *yaml.Node, fn func(key string, v *yaml.Node) error) error {
	seen := map[string]bool{}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := resolve(m.Content[i]), resolve(m.Content[i+1])
		if k.Kind != yaml.ScalarNode {
			return fmt.Errorf("line %d: a key must be a string", k.Line)
		}
		if seen[k.Value] {
			return fmt.Errorf("line %d: key %q is given twice", k.Line, k.Value)
		}
		seen[k.Value] = true
		if err := fn(k.Value, v); err != nil {
			return err
		}
	}
	return nil
}

// stringList reads a list of strings; a single string is a list of one.
func stringList(n *yaml.Node, what string) ([]string, error) {
	if n.Kind == yaml.ScalarNode && n.Tag != "!!null" {
		return []string{n.Value}, nil
	}
	if n.Kind == yaml.ScalarNode { // null: none
		return nil, nil
	}
	if n.Kind != yaml.SequenceNode {
		return nil, fmt.Errorf("%s must be a list of strings", what)
	}
	out := make([]string, 0, len(n.Content))
	for _, c := range n.Content {
		c = resolve(c)
		if c.Kind != yaml.ScalarNode {
			return nil, fmt.Errorf("%s must be a list of strings (line %d)", what, c.Line)
		}
		out = append(out, c.Value)
	}
	return out, nil
}

// resolve follows an alias (*name) to the node it names. Aliases are
// followed one level, never expanded recursively, so a hostile file cannot
// make the walk blow up.
func resolve(n *yaml.Node) *yaml.Node {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		return n.Alias
	}
	return n
}

// oneLine flattens the YAML library's multi-line errors into one line.
func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}
