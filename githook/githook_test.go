package githook_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	gitops "github.com/gitops-status/gitops-status"
	"github.com/gitops-status/gitops-status/githook"
)

const secret = "s3cret-webhook"

func payload(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", "hooks", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func sign(key string, body []byte) string {
	m := hmac.New(sha256.New, []byte(key))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// recorder is a store that keeps what it was asked to set.
type recorder struct{ sets []gitops.SetHead }

func (r *recorder) SetHead(_ context.Context, u gitops.SetHead) (gitops.HeadOutcome, error) {
	r.sets = append(r.sets, u)
	return gitops.HeadOutcome{Applied: true, Head: gitops.Head{RepoName: u.RepoName, Branch: u.Branch, CommitSHA: u.CommitSHA, UpdatedBy: u.UpdatedBy}}, nil
}

func TestHook(t *testing.T) {
	github := func(event, sig string) map[string]string {
		return map[string]string{"X-GitHub-Event": event, "X-GitHub-Delivery": "72d3162e", "X-Hub-Signature-256": sig}
	}
	gitea := func(event, sig string) map[string]string {
		return map[string]string{"X-Gitea-Event": event, "X-Gitea-Delivery": "1", "X-Forgejo-Event": event, "X-Hub-Signature-256": sig}
	}
	gitlab := func(event, token string) map[string]string {
		return map[string]string{"X-Gitlab-Event": event, "X-Gitlab-Token": token}
	}
	tests := []struct {
		name     string
		file     string
		headers  func(body []byte) map[string]string
		wantCode int
		wantSet  *gitops.SetHead
	}{
		{"github push", "github-push.json", func(b []byte) map[string]string { return github("push", sign(secret, b)) }, 200,
			&gitops.SetHead{RepoName: "rsyslog", Branch: "master", CommitSHA: "9f8e7d6c5b4a39281706f5e4d3c2b1a098765432", UpdatedBy: "github:alice"}},
		{"github ping", "github-ping.json", func(b []byte) map[string]string { return github("ping", sign(secret, b)) }, 200, nil},
		{"github tag", "github-tag.json", func(b []byte) map[string]string { return github("push", sign(secret, b)) }, 202, nil},
		{"github deleted branch", "github-delete.json", func(b []byte) map[string]string { return github("push", sign(secret, b)) }, 202, nil},
		{"github other event", "github-ping.json", func(b []byte) map[string]string { return github("issues", sign(secret, b)) }, 202, nil},
		{"github bad signature", "github-push.json", func(b []byte) map[string]string { return github("push", sign("wrong", b)) }, 401, nil},
		{"github signature not hex", "github-push.json", func([]byte) map[string]string { return github("push", "sha256=zz") }, 401, nil},
		{"github no signature", "github-push.json", func([]byte) map[string]string { return github("push", "") }, 401, nil},
		{"github bad signature on a ping", "github-ping.json", func(b []byte) map[string]string { return github("ping", sign("wrong", b)) }, 401, nil},
		{"gitea push", "gitea-push.json", func(b []byte) map[string]string { return gitea("push", sign(secret, b)) }, 200,
			&gitops.SetHead{RepoName: "nginx", Branch: "main", CommitSHA: "2c1e8b7f4d9a6e3c0b5f8a2d7e4c1b9f6a3d0e85", UpdatedBy: "gitea:bob"}},
		{"gitea legacy signature header", "gitea-push.json", func(b []byte) map[string]string {
			return map[string]string{"X-Gitea-Event": "push", "X-Gitea-Signature": strings.TrimPrefix(sign(secret, b), "sha256=")}
		}, 200, &gitops.SetHead{RepoName: "nginx", Branch: "main", CommitSHA: "2c1e8b7f4d9a6e3c0b5f8a2d7e4c1b9f6a3d0e85", UpdatedBy: "gitea:bob"}},
		{"gitea bad signature", "gitea-push.json", func(b []byte) map[string]string { return gitea("push", sign("wrong", b)) }, 401, nil},
		{"gitea create event", "gitea-push.json", func(b []byte) map[string]string { return gitea("create", sign(secret, b)) }, 202, nil},
		{"gitlab push", "gitlab-push.json", func([]byte) map[string]string { return gitlab("Push Hook", secret) }, 200,
			&gitops.SetHead{RepoName: "splunk", Branch: "production", CommitSHA: "da1560886d4f094c3e6c9ef40349f7d38b5d27d7", UpdatedBy: "gitlab:carol"}},
		{"gitlab tag push", "gitlab-tag.json", func([]byte) map[string]string { return gitlab("Tag Push Hook", secret) }, 202, nil},
		{"gitlab deleted branch", "gitlab-delete.json", func([]byte) map[string]string { return gitlab("Push Hook", secret) }, 202, nil},
		{"gitlab bad token", "gitlab-push.json", func([]byte) map[string]string { return gitlab("Push Hook", "wrong") }, 401, nil},
		{"gitlab token prefix", "gitlab-push.json", func([]byte) map[string]string { return gitlab("Push Hook", secret[:5]) }, 401, nil},
		{"gitlab no token", "gitlab-push.json", func([]byte) map[string]string { return gitlab("Push Hook", "") }, 401, nil},
		{"no event header", "github-push.json", func(b []byte) map[string]string {
			return map[string]string{"X-Hub-Signature-256": sign(secret, b)}
		}, 400, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := &recorder{}
			h := githook.New(githook.Config{Store: st, Secret: secret})
			body := payload(t, tt.file)
			req := httptest.NewRequest("POST", "/hooks/git", strings.NewReader(string(body)))
			req.Header.Set("Content-Type", "application/json")
			for k, v := range tt.headers(body) {
				if v != "" {
					req.Header.Set(k, v)
				}
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tt.wantCode {
				t.Fatalf("answer %d %s, want %d", rec.Code, rec.Body, tt.wantCode)
			}
			var answer map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &answer); err != nil || rec.Header().Get("Content-Type") != "application/json" {
				t.Fatalf("answer is not JSON: %q (%v)", rec.Body, err)
			}
			if tt.wantCode >= 400 && answer["error"] == nil {
				t.Fatalf("error answer without \"error\": %s", rec.Body)
			}
			switch {
			case tt.wantSet == nil && len(st.sets) != 0:
				t.Fatalf("set %+v, want nothing set", st.sets)
			case tt.wantSet != nil && (len(st.sets) != 1 || st.sets[0] != *tt.wantSet):
				t.Fatalf("set %+v, want %+v", st.sets, *tt.wantSet)
			}
			if tt.wantSet != nil && answer["commit_sha"] != tt.wantSet.CommitSHA {
				t.Fatalf("answer %s, want the stored head", rec.Body)
			}
		})
	}
}

func TestHookRefusesOtherContent(t *testing.T) {
	st := &recorder{}
	h := githook.New(githook.Config{Store: st, Secret: secret, MaxBodyBytes: 64})
	body := payload(t, "github-push.json")
	for _, tc := range []struct {
		ct   string
		want int
	}{{"application/x-www-form-urlencoded", http.StatusUnsupportedMediaType}, {"application/json", http.StatusRequestEntityTooLarge}} {
		req := httptest.NewRequest("POST", "/hooks/git", strings.NewReader(string(body)))
		req.Header.Set("Content-Type", tc.ct)
		req.Header.Set("X-GitHub-Event", "push")
		req.Header.Set("X-Hub-Signature-256", sign(secret, body))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != tc.want || len(st.sets) != 0 {
			t.Errorf("%s: %d %s, sets %v; want %d and nothing set", tc.ct, rec.Code, rec.Body, st.sets, tc.want)
		}
	}
}
