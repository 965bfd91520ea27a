package ui

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	gitops "github.com/gitops-status/gitops-status"
)

// checkToken is what the program gives the page: r3ad may read, wr1te is
// known but may not, anything else is unknown.
func checkToken(token string) error {
	switch token {
	case "r3ad", `we;ird "tok en"`:
		return nil
	case "wr1te":
		return gitops.Errorf(gitops.EFORBIDDEN, "token wr1te lacks the read scope")
	}
	return gitops.Errorf(gitops.EUNAUTHORIZED, "unknown token")
}

func newSessionPage(t *testing.T) http.Handler {
	u := New(Config{Store: mustOpenStore(t), CheckToken: checkToken})
	mux := http.NewServeMux()
	for _, rt := range u.Routes() {
		mux.Handle(rt.Method+" "+rt.Path, rt.Handler)
	}
	return mux
}

func postForm(h http.Handler, path string, form url.Values, header ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest("POST", path, strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Set(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestLogin(t *testing.T) {
	h := newSessionPage(t)
	tests := []struct {
		name     string
		form     url.Values
		header   []string
		code     int
		location string
		cookie   bool
		says     string
	}{
		{name: "a read token", form: url.Values{"token": {"r3ad"}, "next": {"/ui?status=failed"}},
			code: 303, location: "/ui?status=failed", cookie: true},
		{name: "a token with any bytes", form: url.Values{"token": {` we;ird "tok en" `}, "next": {"/ui/g/h"}},
			code: 303, location: "/ui/g/h", cookie: true},
		{name: "an unknown token", form: url.Values{"token": {"nope"}, "next": {"/ui"}},
			code: 401, says: "That token is not known."},
		{name: "a token that cannot read", form: url.Values{"token": {"wr1te"}},
			code: 403, says: "That token cannot read: it needs the read scope."},
		{name: "no token", form: url.Values{"next": {"/ui"}}, code: 401, says: "Enter a token."},
		{name: "next leads off the page", form: url.Values{"token": {"r3ad"}, "next": {"https://evil.example/ui"}},
			code: 303, location: "/ui", cookie: true},
		{name: "next leads to another host", form: url.Values{"token": {"r3ad"}, "next": {"//evil.example/ui"}},
			code: 303, location: "/ui", cookie: true},
		{name: "next leads to the API", form: url.Values{"token": {"r3ad"}, "next": {"/status"}},
			code: 303, location: "/ui", cookie: true},
		{name: "posted by another site", form: url.Values{"token": {"r3ad"}}, header: []string{"Sec-Fetch-Site", "cross-site"},
			code: 403, says: "This form can only be sent from the status page itself."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := postForm(h, "/ui/login", tt.form, tt.header...)
			if w.Code != tt.code {
				t.Fatalf("status %d, want %d\n%s", w.Code, tt.code, w.Body)
			}
			if got := w.Header().Get("Location"); got != tt.location {
				t.Errorf("Location %q, want %q", got, tt.location)
			}
			cookies := w.Result().Cookies()
			if got := len(cookies) == 1; got != tt.cookie {
				t.Fatalf("cookies %v, want one: %v", cookies, tt.cookie)
			}
			if tt.says != "" && !strings.Contains(w.Body.String(), tt.says) {
				t.Errorf("the page does not say %q:\n%s", tt.says, w.Body)
			}
			if strings.Contains(w.Body.String(), "nope") || strings.Contains(w.Body.String(), "wr1te") {
				t.Error("the page echoes the token")
			}
			if w.Header().Get("Content-Security-Policy") == "" {
				t.Error("no security headers")
			}
			if !tt.cookie {
				return
			}
			c := cookies[0]
			if c.Name != TokenCookie || c.Path != "/ui" || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Secure || c.MaxAge != 30*24*3600 {
				t.Errorf("cookie %+v, want %s, Path=/ui, HttpOnly, SameSite=Strict, not Secure over plain HTTP, 30 days", c, TokenCookie)
			}
			r := httptest.NewRequest("GET", "/ui", nil)
			r.AddCookie(c)
			if got, ok := TokenFromCookie(r); !ok || got != strings.TrimSpace(tt.form.Get("token")) {
				t.Errorf("the cookie carries %q (%v), want the token", got, ok)
			}
		})
	}
}

func TestCookieIsSecureUnderTLS(t *testing.T) {
	h := newSessionPage(t)
	for name, header := range map[string][]string{
		"behind a TLS proxy": {"X-Forwarded-Proto", "https"},
	} {
		w := postForm(h, "/ui/login", url.Values{"token": {"r3ad"}}, header...)
		if c := w.Result().Cookies(); len(c) != 1 || !c[0].Secure {
			t.Errorf("%s: cookie %v, want Secure", name, c)
		}
	}
	srv := httptest.NewTLSServer(h)
	defer srv.Close()
	client := srv.Client()
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	res, err := client.PostForm(srv.URL+"/ui/login", url.Values{"token": {"r3ad"}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if c := res.Cookies(); len(c) != 1 || !c[0].Secure {
		t.Errorf("over TLS: cookie %v, want Secure", c)
	}
}

func TestLogout(t *testing.T) {
	h := newSessionPage(t)
	w := postForm(h, "/ui/logout", nil)
	if w.Code != 303 || w.Header().Get("Location") != "/ui" {
		t.Fatalf("logout answered %d to %q", w.Code, w.Header().Get("Location"))
	}
	c := w.Result().Cookies()
	if len(c) != 1 || c[0].Name != TokenCookie || c[0].MaxAge >= 0 || c[0].Path != "/ui" {
		t.Fatalf("logout set %v, want the token cookie removed", c)
	}
	if w := postForm(h, "/ui/logout", nil, "Origin", "https://evil.example"); w.Code != 403 {
		t.Errorf("a logout posted by another site answered %d", w.Code)
	}
}

func TestSignedInPagesOfferLogout(t *testing.T) {
	h := newSessionPage(t)
	login := postForm(h, "/ui/login", url.Values{"token": {"r3ad"}})
	for _, withCookie := range []bool{false, true} {
		r := httptest.NewRequest("GET", "/ui", nil)
		if withCookie {
			r.AddCookie(login.Result().Cookies()[0])
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if got := strings.Contains(w.Body.String(), `action="/ui/logout"`); got != withCookie {
			t.Errorf("with the cookie %v, the page offers to sign out: %v", withCookie, got)
		}
	}
}

func TestDenied(t *testing.T) {
	u := New(Config{Store: mustOpenStore(t), CheckToken: checkToken})
	tests := []struct {
		name   string
		err    error
		header []string
		code   int
		says   string
	}{
		{"no token", gitops.Errorf(gitops.EUNAUTHORIZED, "no token"), nil, 401, "needs a token with the <code>read</code> scope"},
		{"a bad bearer token", gitops.Errorf(gitops.EUNAUTHORIZED, "unknown"), []string{"Authorization", "Bearer x"}, 401, "That token is not known (any more)."},
		{"a token that cannot read", gitops.Errorf(gitops.EFORBIDDEN, "scope"), nil, 403, "cannot read"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/ui/g/h?limit=5", nil)
			for i := 0; i+1 < len(tt.header); i += 2 {
				r.Header.Set(tt.header[i], tt.header[i+1])
			}
			w := httptest.NewRecorder()
			u.Denied(w, r, tt.err)
			if w.Code != tt.code || !strings.Contains(w.Body.String(), tt.says) {
				t.Fatalf("%d, want %d saying %q:\n%s", w.Code, tt.code, tt.says, w.Body)
			}
			if !strings.Contains(w.Body.String(), `name="next" value="/ui/g/h?limit=5"`) {
				t.Errorf("the form does not come back to the page asked for:\n%s", w.Body)
			}
			if w.Header().Get("Content-Security-Policy") == "" || w.Header().Get("WWW-Authenticate") == "" {
				t.Error("headers missing")
			}
			if strings.Contains(w.Body.String(), `action="/ui/logout"`) {
				t.Error("the sign-in page offers to sign out")
			}
		})
	}
	// A kept token the server no longer knows is named so; the cookie stays
	// until a sign-in replaces it, so that the form can say why it is back.
	r := httptest.NewRequest("GET", "/ui", nil)
	r.AddCookie(tokenCookie(r, "revoked"))
	w := httptest.NewRecorder()
	u.Denied(w, r, gitops.Errorf(gitops.EUNAUTHORIZED, "unknown"))
	if !strings.Contains(w.Body.String(), "not known (any more)") {
		t.Errorf("the form does not say the token is no longer known")
	}
}

func TestSafeNext(t *testing.T) {
	tests := []struct{ in, want string }{
		{"/ui", "/ui"},
		{"/ui?status=failed&q=a", "/ui?status=failed&q=a"},
		{"/ui/g/h?limit=5", "/ui/g/h?limit=5"},
		{"", "/ui"},
		{"/uix", "/ui"},
		{"/status", "/ui"},
		{"/ui/_static/ui.js", "/ui"},
		{"//evil.example/ui", "/ui"},
		{"https://evil.example/ui", "/ui"},
		{"/ui\\@evil", "/ui"},
		{"javascript:alert(1)", "/ui"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := safeNext(tt.in); got != tt.want {
				t.Fatalf("safeNext(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}
