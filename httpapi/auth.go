package httpapi

import (
	"context"
	"net/http"
	"strings"

	gitops "github.com/gitops-status/gitops-status"
)

// wwwAuthenticate is the challenge of every 401 (RFC 6750).
const wwwAuthenticate = `Bearer realm="gitops-status"`

// guard returns rt's handler behind the check of its scope. With
// authentication off, and on open routes, the handler runs as it is.
// credential is a second source of the token for this route and denied
// answers a refusal instead of the JSON error; both are nil but for the
// routes mounted through Config.Routes.
// Otherwise the token is read and checked before the handler runs, so a
// refused request reaches no store and reads no body; the principal goes
// into the request's context for the checks and defaults that need the
// body (the groups a token may write, updated_by).
func (s *Server) guard(rt route, credential func(*http.Request) (string, bool), denied func(http.ResponseWriter, *http.Request, error)) http.HandlerFunc {
	if s.auth == nil || rt.need == open {
		return rt.handler
	}
	need, next := rt.need, rt.handler
	action := rt.method + " " + rt.path
	return func(w http.ResponseWriter, r *http.Request) {
		protected := s.auth.ReadsProtected()
		if need == read && !protected {
			next(w, r) // open reads ignore any token, even a bad one
			return
		}
		p, err := s.authenticate(r, credential)
		if p != nil {
			r = r.WithContext(context.WithValue(r.Context(), principalKey{}, p))
		}
		if err == nil {
			err = gitops.Authorize(p, need, protected, action)
		}
		if err != nil && denied != nil {
			denied(w, r, err)
			return
		}
		if err != nil {
			switch gitops.ErrorCode(err) {
			case gitops.EUNAUTHORIZED:
				challenge := wwwAuthenticate
				if r.Header.Get("Authorization") != "" {
					challenge += `, error="invalid_token"`
				}
				w.Header().Set("WWW-Authenticate", challenge)
			case gitops.EFORBIDDEN:
				w.Header().Set("WWW-Authenticate", wwwAuthenticate+`, error="insufficient_scope", scope="`+string(need)+`"`)
			}
			s.writeError(w, r, err)
			return
		}
		next(w, r)
	}
}

// authenticate returns the principal of the request's token: nil without
// a token, an EUNAUTHORIZED error for a malformed or unknown one.
// credential is the route's second source of a token, or nil.
func (s *Server) authenticate(r *http.Request, credential func(*http.Request) (string, bool)) (*gitops.Principal, error) {
	token, err := requestToken(r, credential)
	if err != nil || token == "" {
		return nil, err
	}
	return s.auth.Authenticate(token)
}

// requestToken returns the bearer token a request carries: "" when it has
// none, an EUNAUTHORIZED error when its Authorization header is not
// "Bearer <token>". It is the one place credentials are read from a
// request. Without an Authorization header, the token is credential's
// (the status page's cookie, on its routes only), when it has one: the
// header wins, so a proxy that sends a token always decides.
func requestToken(r *http.Request, credential func(*http.Request) (string, bool)) (string, error) {
	vs := r.Header["Authorization"]
	switch {
	case len(vs) == 0:
		if credential != nil {
			if token, ok := credential(r); ok {
				return token, nil
			}
		}
		return "", nil
	case len(vs) > 1:
		return "", gitops.ErrTokenMalformed("is sent more than once")
	}
	v := strings.TrimSpace(vs[0])
	if v == "" {
		return "", gitops.ErrTokenMalformed("is empty")
	}
	scheme, token, _ := strings.Cut(v, " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return "", gitops.ErrTokenMalformed("is not a bearer token")
	}
	token = strings.TrimLeft(token, " ")
	switch {
	case token == "":
		return "", gitops.ErrTokenMalformed("has no token after \"Bearer\"")
	case strings.ContainsAny(token, " \t"):
		return "", gitops.ErrTokenMalformed("has a space inside the token")
	}
	return token, nil
}

// principalKey is the context key of the request's principal.
type principalKey struct{}

// principalFrom returns the principal guard put in ctx: nil with
// authentication off and on routes that need no token.
func principalFrom(ctx context.Context) *gitops.Principal {
	p, _ := ctx.Value(principalKey{}).(*gitops.Principal)
	return p
}

// authorizeWrite checks, once the body named it, that the request's token
// may write server_group g, and makes the token the update's author when
// the body names none. u is nil for a DELETE.
func authorizeWrite(r *http.Request, g string, u gitops.Update) error {
	p := principalFrom(r.Context())
	if p == nil {
		return nil
	}
	if err := gitops.AuthorizeGroup(p, g, r.Pattern); err != nil {
		return err
	}
	if u != nil {
		gitops.AttributeUpdate(u, p)
	}
	return nil
}
