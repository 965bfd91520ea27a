// Package auth is the bearer-token adapter of gitops-status (SPEC §6, §8):
// it reads the tokens file and the GITOPS_STATUS_TOKENS environment
// variable, holds the tokens so that a reload swaps them whole, and answers
// which principal a bearer token belongs to. What each scope allows is the
// domain's rule (gitops.Authorize); this package only knows the tokens.
package auth

import (
	"fmt"
	"io"
	"os"
	"sync/atomic"

	gitops "github.com/gitops-status/gitops-status"
)

// EnvVar is the environment variable that may hold a tokens document
// inline, beside or instead of a tokens file.
const EnvVar = "GITOPS_STATUS_TOKENS"

// Config says where tokens come from. Both may be set; their tokens add up.
type Config struct {
	// File is the tokens file, read at New and again at every Reload.
	File string
	// Inline is a tokens document given directly (the value of
	// GITOPS_STATUS_TOKENS). The environment of a running process cannot
	// change, so it is read once and kept for every reload.
	Inline string
}

// Enabled reports whether c configures any token source: with none,
// authentication is off.
func (c Config) Enabled() bool { return c.File != "" || c.Inline != "" }

// Authenticator maps bearer tokens to principals. Its tokens are swapped
// whole by Reload, atomically: a request sees the old set or the new one,
// never a mix, and no request waits for a reload. It is safe for
// concurrent use.
type Authenticator struct {
	cfg    Config
	tokens atomic.Pointer[Tokens]
}

// New reads the tokens c names. The error is one line naming the source and
// the entry at fault, and never contains a secret; warnings are worth
// logging (short plain tokens).
func New(c Config) (*Authenticator, []string, error) {
	if !c.Enabled() {
		return nil, nil, fmt.Errorf("no tokens file and no %s: nothing to authenticate with", EnvVar)
	}
	a := &Authenticator{cfg: c}
	_, warnings, err := a.Reload()
	if err != nil {
		return nil, nil, err
	}
	return a, warnings, nil
}

// Reload reads the tokens again and, when they are all valid, puts them in
// place of the current ones, which are kept on any error. It returns the
// new set.
func (a *Authenticator) Reload() (*Tokens, []string, error) {
	var sources []source
	if a.cfg.File != "" {
		data, err := readFile(a.cfg.File)
		if err != nil {
			return nil, nil, err
		}
		sources = append(sources, source{name: "tokens file " + a.cfg.File, data: data})
	}
	if a.cfg.Inline != "" {
		sources = append(sources, source{name: EnvVar, data: []byte(a.cfg.Inline)})
	}
	t, warnings, err := parse(sources)
	if err != nil {
		return nil, nil, err
	}
	a.tokens.Store(t)
	return t, warnings, nil
}

func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("tokens file: %v", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxSourceBytes+1))
	if err != nil {
		return nil, fmt.Errorf("tokens file %s: %v", path, err)
	}
	return data, nil
}

// Tokens returns the tokens in force.
func (a *Authenticator) Tokens() *Tokens { return a.tokens.Load() }

// Authenticate returns the principal of a bearer token, or the
// EUNAUTHORIZED error of a token no entry matches.
func (a *Authenticator) Authenticate(token string) (*gitops.Principal, error) {
	if p := a.tokens.Load().Lookup(token); p != nil {
		return p, nil
	}
	return nil, gitops.ErrTokenUnknown()
}

// ReadsProtected reports whether reads need a token with the read scope:
// whether some token in force has it.
func (a *Authenticator) ReadsProtected() bool { return a.tokens.Load().ReadsProtected() }
