package ui

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"time"

	gitops "github.com/gitops-status/gitops-status"
)

// When read tokens are configured (SPEC §8), the page is a read like any
// other. A person gives a read token once, on the sign-in form the page
// shows instead of a 401; the page keeps it in a cookie that only the
// page's own URLs receive, and the program accepts that cookie as a read
// credential of the page's routes and nothing else (TokenFromCookie).

// TokenCookie names the cookie that keeps a person's read token.
const TokenCookie = "gitops_status_token"

// cookieMaxAge is how long the browser keeps the token: long enough that
// a wall display asks once, short enough that a forgotten browser forgets
// it. Removing the token from the tokens file ends it at once.
const cookieMaxAge = 30 * 24 * time.Hour

// maxFormBytes bounds the sign-in form: a token and where to go next.
const maxFormBytes = 16 << 10

// TokenFromCookie returns the read token the request's cookie carries, if
// it carries one. The program reads credentials of the page's routes with
// it; the cookie is never sent to other paths (its Path is /ui).
func TokenFromCookie(r *http.Request) (string, bool) {
	c, err := r.Cookie(TokenCookie)
	if err != nil || c.Value == "" {
		return "", false
	}
	// The token is kept base64url-encoded: a token may hold bytes a cookie
	// value cannot (spaces, quotes, semicolons).
	b, err := base64.RawURLEncoding.DecodeString(c.Value)
	if err != nil || len(b) == 0 {
		return "", false
	}
	return string(b), true
}

// tokenCookie is the cookie that keeps token, or that removes it when
// token is "". Secure when the request came over TLS, directly or through
// a proxy that says so.
func tokenCookie(r *http.Request, token string) *http.Cookie {
	c := &http.Cookie{
		Name:     TokenCookie,
		Value:    base64.RawURLEncoding.EncodeToString([]byte(token)),
		Path:     basePath,
		MaxAge:   int(cookieMaxAge / time.Second),
		HttpOnly: true,
		SameSite: http.SameSiteStrictMode,
		Secure:   r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https"),
	}
	if token == "" {
		c.Value, c.MaxAge = "", -1
	}
	return c
}

// signIn is the Data of the sign-in page.
type signIn struct {
	Next    string
	Message string
}

// Denied answers a request to one of the page's routes that carried no
// usable read token (err is the EUNAUTHORIZED or EFORBIDDEN error of the
// check) with the sign-in form, which comes back to the page asked for.
func (u *UI) Denied(w http.ResponseWriter, r *http.Request, err error) {
	code := httpStatus(gitops.ErrorCode(err))
	if code != http.StatusForbidden {
		code = http.StatusUnauthorized
	}
	msg := ""
	switch {
	case code == http.StatusForbidden:
		msg = "The token you signed in with cannot read. Sign in with a token that has the read scope."
	case r.Header.Get("Authorization") != "" || hasTokenCookie(r):
		msg = "That token is not known (any more). Sign in again."
	}
	u.renderSignIn(w, r, code, safeNext(r.URL.RequestURI()), msg)
}

func (u *UI) renderSignIn(w http.ResponseWriter, r *http.Request, code int, next, msg string) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="gitops-status"`)
	p := u.newPage("Sign in", u.now(), 0, signIn{Next: next, Message: msg})
	p.AsOf = timeCell{} // no data on this page
	u.render(w, r, code, "signin", p)
}

// handleSignIn answers POST /ui/login: with a token that may read, it
// keeps the token in the cookie and goes back to the page the person
// asked for; with any other, it shows the form again and says why. The
// token is never echoed.
func (u *UI) handleSignIn(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		u.renderSignIn(w, r, http.StatusBadRequest, basePath, "The form could not be read; sign in again.")
		return
	}
	next := safeNext(r.PostForm.Get("next"))
	setSecurityHeaders(w.Header())
	if u.checkToken == nil {
		// Tokens are off: there is nothing to sign in to.
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	}
	token := strings.TrimSpace(r.PostForm.Get("token"))
	if token == "" {
		u.renderSignIn(w, r, http.StatusUnauthorized, next, "Enter a token.")
		return
	}
	if err := u.checkToken(token); err != nil {
		msg := "That token is not known."
		code := http.StatusUnauthorized
		if gitops.ErrorCode(err) == gitops.EFORBIDDEN {
			msg, code = "That token cannot read: it needs the read scope.", http.StatusForbidden
		}
		u.log.Info("status page sign-in refused", "request_id", w.Header().Get("X-Request-Id"), "reason", gitops.ErrorMessage(err))
		u.renderSignIn(w, r, code, next, msg)
		return
	}
	http.SetCookie(w, tokenCookie(r, token))
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// handleSignOut answers POST /ui/logout: the browser forgets the token.
func (u *UI) handleSignOut(w http.ResponseWriter, r *http.Request) {
	setSecurityHeaders(w.Header())
	http.SetCookie(w, tokenCookie(r, ""))
	http.Redirect(w, r, basePath, http.StatusSeeOther)
}

// crossOrigin refuses the sign-in and sign-out forms when another site
// posts them (CSRF): signing a person in with someone else's token, or out,
// is not for other sites to do.
func (u *UI) crossOrigin(h http.HandlerFunc) http.Handler {
	p := http.NewCrossOriginProtection()
	p.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.renderError(w, r, gitops.Errorf(gitops.EFORBIDDEN, "This form can only be sent from the status page itself."))
	}))
	return p.Handler(h)
}

func hasTokenCookie(r *http.Request) bool {
	_, ok := TokenFromCookie(r)
	return ok
}

// safeNext returns next when it is a path of the page, else the fleet
// view: the sign-in form never sends anyone to another site.
func safeNext(next string) string {
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\x00\r\n") {
		return basePath
	}
	if u.Path != basePath && !strings.HasPrefix(u.Path, basePath+"/") || strings.HasPrefix(u.Path, staticPrefix) {
		return basePath
	}
	return u.RequestURI()
}
