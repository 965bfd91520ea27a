package httpapi

import (
	"net/http"
	"strings"
	"testing"

	gitops "github.com/gitops-status/gitops-status"
)

// FuzzRequestToken: any Authorization header gives a token or a 401,
// never a panic; an accepted token is what follows "Bearer " and holds no
// blank, so sending it again gives it back.
func FuzzRequestToken(f *testing.F) {
	for _, s := range []string{"Bearer abc", "bearer abc", "Bearer  abc", "Bearer", "Bearer ", "Basic abc", "", "Bearer a b", "BEARER x\t", "Bearerx"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		r := &http.Request{Header: http.Header{"Authorization": {v}}}
		token, err := requestToken(r, nil)
		if err != nil {
			if gitops.ErrorCode(err) != gitops.EUNAUTHORIZED {
				t.Fatalf("%q: %v, want %s", v, err, gitops.EUNAUTHORIZED)
			}
			return
		}
		if token == "" || strings.ContainsAny(token, " \t") || !strings.HasSuffix(strings.TrimSpace(v), token) {
			t.Fatalf("%q gave the token %q", v, token)
		}
		again, err := requestToken(&http.Request{Header: http.Header{"Authorization": {"Bearer " + token}}}, nil)
		if err != nil || again != token {
			t.Fatalf("%q: the token %q sent again gives %q, %v", v, token, again, err)
		}
	})
}
