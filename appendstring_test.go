package gitops_test

import (
	"encoding/json"
	"testing"

	gitops "github.com/gitops-status/gitops-status"
)

func TestAppendJSONStringMatchesEncodingJSON(t *testing.T) {
	for _, s := range []string{"", "plain", `field "x" is set by the server`, "a\nb\t\\<>&\x00\x1f\u2028\u2029é\xff"} {
		want, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := gitops.AppendJSONString([]byte("x"), s); !sameJSON(got, append([]byte("x"), want...)) {
			t.Fatalf("AppendJSONString(%q) = %s, want x%s", s, got, want)
		}
	}
}
