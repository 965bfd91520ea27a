package gitops

import (
	"fmt"
	"path"
	"slices"
	"strings"
	"unicode"
)

// Scope is what a bearer token allows (SPEC §6, §8).
type Scope string

// The scopes a token may carry. ScopeAdmin implies every other one.
const (
	ScopeRead     Scope = "read"
	ScopePipeline Scope = "pipeline"
	ScopeCron     Scope = "cron"
	ScopeAdmin    Scope = "admin"
)

// Scopes lists every scope, in the order messages name them.
var Scopes = []Scope{ScopeRead, ScopePipeline, ScopeCron, ScopeAdmin}

// ParseScope reads a scope in any letter case. The error is EINVALID and
// lists the accepted values.
func ParseScope(s string) (Scope, error) {
	for _, sc := range Scopes {
		if strings.EqualFold(s, string(sc)) {
			return sc, nil
		}
	}
	return "", Errorf(EINVALID, "scope %q is not one of %s", s, joinQuoted(Scopes))
}

// Principal is who a request comes from once its bearer token is known: the
// token's name, what it may do and which server groups it may write.
// A Principal is not modified after Validate, so one value may be shared by
// every request that presents the token.
type Principal struct {
	// Name names the token in logs and becomes updated_by when an update's
	// body omits it. It is not secret; several tokens may share it (the old
	// and new token while one is rotated).
	Name string
	// Scopes are what the token allows; ScopeAdmin implies all.
	Scopes []Scope
	// Groups, when not empty, are path.Match patterns of the server groups
	// the token may write ("rsyslog-*"); empty means every group. They limit
	// writes only: reading needs the read scope, whatever the groups.
	Groups []string
}

// Validate checks a principal as a tokens file describes it: a name, at
// least one known scope and well-formed glob patterns. The error is
// EINVALID and names what is wrong.
func (p *Principal) Validate() error {
	if strings.TrimSpace(p.Name) == "" {
		return FieldErrorf("name", "the token has no name; every token needs one (it becomes updated_by)")
	}
	if strings.ContainsFunc(p.Name, unicode.IsControl) {
		return FieldErrorf("name", "token name %q holds control characters; use printable text", p.Name)
	}
	if len(p.Scopes) == 0 {
		return FieldErrorf("scopes", "token %q has no scopes; give it one or more of %s", p.Name, joinQuoted(Scopes))
	}
	for _, sc := range p.Scopes {
		if !slices.Contains(Scopes, sc) {
			return FieldErrorf("scopes", "token %q: scope %q is not one of %s", p.Name, sc, joinQuoted(Scopes))
		}
	}
	for _, g := range p.Groups {
		if err := ValidateGroupPattern(g); err != nil {
			return FieldErrorf("groups", "token %q: %s", p.Name, ErrorMessage(err))
		}
	}
	return nil
}

// ValidateGroupPattern checks one glob of server groups: path.Match syntax
// (*, ?, [a-z], \ escapes), not empty. The error is EINVALID.
func ValidateGroupPattern(g string) error {
	if g == "" {
		return Errorf(EINVALID, "an empty group pattern matches no server group; use \"*\" for all, or leave groups out")
	}
	if _, err := path.Match(g, ""); err != nil {
		return Errorf(EINVALID, "group pattern %q is not a valid glob (path.Match syntax: *, ?, [a-z], \\ to escape)", g)
	}
	return nil
}

// Has reports whether p allows scope s. Admin implies every scope.
func (p *Principal) Has(s Scope) bool {
	for _, have := range p.Scopes {
		if have == s || have == ScopeAdmin {
			return true
		}
	}
	return false
}

// MayWriteGroup reports whether p may write servers of group g: always when
// p has no group patterns, else when one of them matches g. Validate has
// checked the patterns, so a match error cannot happen and counts as no.
func (p *Principal) MayWriteGroup(g string) bool {
	if len(p.Groups) == 0 {
		return true
	}
	for _, pat := range p.Groups {
		if ok, _ := path.Match(pat, g); ok {
			return true
		}
	}
	return false
}

// Authorize decides whether a request that needs scope need may proceed.
// need "" is an open route. Reads (ScopeRead) are open unless
// readsProtected, which is true when some token has the read scope
// (SPEC §8). p is nil when the request carried no token. action names the
// route in messages ("POST /status/pipeline").
//
// It returns nil, an EUNAUTHORIZED error (a token is needed) or an
// EFORBIDDEN one (the token lacks the scope).
func Authorize(p *Principal, need Scope, readsProtected bool, action string) error {
	if need == "" || (need == ScopeRead && !readsProtected) {
		return nil
	}
	if p == nil {
		return ErrTokenMissing(need, action)
	}
	if !p.Has(need) {
		return ErrScopeMissing(p, need, action)
	}
	return nil
}

// AuthorizeGroup decides whether p may write a server of group g: nil or
// an EFORBIDDEN error whose Field is server_group. A nil p (auth off, or a
// route that needs no token) may write any group.
func AuthorizeGroup(p *Principal, g, action string) error {
	if p == nil || p.MayWriteGroup(g) {
		return nil
	}
	return &Error{Code: EFORBIDDEN, Field: "server_group", Message: fmt.Sprintf(
		"token %q may not write server_group %q (%s): it may write only groups matching %s",
		p.Name, g, action, joinQuoted(p.Groups))}
}

// ErrTokenMissing is the EUNAUTHORIZED error of a request without a token
// on a route that needs scope need.
func ErrTokenMissing(need Scope, action string) *Error {
	return Errorf(EUNAUTHORIZED, "%s needs a bearer token with the %s scope: send the header \"Authorization: Bearer TOKEN\"", action, need)
}

// ErrTokenUnknown is the EUNAUTHORIZED error of a well-formed bearer token
// that no configured token matches. It never repeats the token.
func ErrTokenUnknown() *Error {
	return Errorf(EUNAUTHORIZED, "the bearer token is not one this server knows; check the token, or ask for one in its tokens file")
}

// ErrTokenMalformed is the EUNAUTHORIZED error of an Authorization header
// that is not "Bearer <token>"; why says what is wrong with it.
func ErrTokenMalformed(why string) *Error {
	return Errorf(EUNAUTHORIZED, "the Authorization header %s; send the header \"Authorization: Bearer TOKEN\"", why)
}

// ErrScopeMissing is the EFORBIDDEN error of a token without the scope
// need that action requires.
func ErrScopeMissing(p *Principal, need Scope, action string) *Error {
	return Errorf(EFORBIDDEN, "token %q lacks the %s scope needed for %s; it has %s", p.Name, need, action, joinQuoted(p.Scopes))
}

// AttributeUpdate records that p made update u, when the body did not say
// who did: a pipeline update without updated_by gets the token's name, and
// a legacy update, whose v1 body cannot say, gets it instead of
// "legacy-api" (SPEC §8). A nil p (auth off) changes nothing.
func AttributeUpdate(u Update, p *Principal) {
	pu, ok := u.(*PipelineUpdate)
	if !ok || p == nil {
		return
	}
	if pu.Source == SourceLegacy || pu.UpdatedBy == "" {
		pu.UpdatedBy = p.Name
	}
}
