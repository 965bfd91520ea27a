package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	gitops "github.com/gitops-status/gitops-status"
	"github.com/gitops-status/gitops-status/postgres/pgtest"
)

const hookSecret = "webhook-s3cret"

// The pushed commits of testdata/hooks.
const (
	githubB = "9f8e7d6c5b4a39281706f5e4d3c2b1a098765432" // example-org/rsyslog master
	giteaB  = "2c1e8b7f4d9a6e3c0b5f8a2d7e4c1b9f6a3d0e85" // infra/nginx main
	gitlabB = "da1560886d4f094c3e6c9ef40349f7d38b5d27d7" // ops/splunk production
	commitA = "1111111aaaa"
)

// desiredFleet is every server of the test: key, repo_name, branch.
var desiredFleet = []struct{ host, repo, branch string }{
	{"rs-01", "rsyslog", "master"},
	{"rs-02", "rsyslog", "master"},
	{"rs-dev", "rsyslog", "develop"},
	{"ng-01", "nginx", "main"},
	{"sp-01", "splunk", "production"},
	{"hp-01", "haproxy", "main"},
}

func hookPayload(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "hooks", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// deliver posts a webhook as its product would and returns the status.
func deliver(t *testing.T, url, file string, headers map[string]string) int {
	t.Helper()
	req, err := http.NewRequest("POST", url+"/hooks/git", strings.NewReader(string(hookPayload(t, file))))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func hubSignature(t *testing.T, key, file string) string {
	m := hmac.New(sha256.New, []byte(key))
	m.Write(hookPayload(t, file))
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// fleetState is every server's desired fields, by host.
func fleetState(t *testing.T, url string) map[string]gitops.Server {
	t.Helper()
	var l []gitops.Server
	if code := getJSON(t, url+"/status?server_group=fleet", &l); code != 200 {
		t.Fatalf("GET /status: %d", code)
	}
	m := map[string]gitops.Server{}
	for _, s := range l {
		m[s.Host] = s
	}
	return m
}

// wantBehind checks that exactly the hosts of behind are behind, each with
// its desired commit and behind_since the head's updated_at.
func wantBehind(t *testing.T, url, when string, behind map[string]string) {
	t.Helper()
	var heads []gitops.Head
	getJSON(t, url+"/desired", &heads)
	for host, s := range fleetState(t, url) {
		want, isBehind := behind[host]
		if s.Desired.Behind != isBehind {
			t.Errorf("%s: %s behind %v, want %v", when, host, s.Desired.Behind, isBehind)
			continue
		}
		if !isBehind {
			if !s.Desired.BehindSince.IsZero() {
				t.Errorf("%s: %s is not behind but has behind_since %s", when, host, s.Desired.BehindSince)
			}
			continue
		}
		if s.Desired.CommitSHA != want {
			t.Errorf("%s: %s desired_commit_sha %q, want %q", when, host, s.Desired.CommitSHA, want)
		}
		var since time.Time
		for _, h := range heads {
			if h.CommitSHA == want {
				since = h.UpdatedAt
			}
		}
		if since.IsZero() || !s.Desired.BehindSince.Equal(since) {
			t.Errorf("%s: %s behind_since %s, want the push's time %s", when, host, s.Desired.BehindSince, since)
		}
	}
	var sum struct{ Behind int }
	getJSON(t, url+"/summary", &sum)
	if sum.Behind != len(behind) {
		t.Errorf("%s: /summary behind %d, want %d", when, sum.Behind, len(behind))
	}
	var l []gitops.Server
	getJSON(t, url+"/status?behind=true", &l)
	if len(l) != len(behind) {
		t.Errorf("%s: /status?behind=true lists %d, want %d", when, len(l), len(behind))
	}
}

// checkDesiredBlackBox drives one backend: env selects it, restart starts
// the server again on the same store.
func checkDesiredBlackBox(t *testing.T, env []string, args []string) {
	p := startServe(t, append(env, "GITOPS_STATUS_GIT_WEBHOOK_SECRET="+hookSecret), args...)
	for _, s := range desiredFleet {
		body := `{"server_group":"fleet","host":"` + s.host + `","status":"synced","repo_name":"` + s.repo +
			`","branch":"` + s.branch + `","commit_sha":"` + commitA + `"}`
		if code, m := post(t, p.URL+"/status/pipeline", body); code != 200 {
			t.Fatalf("pipeline report: %d %v", code, m)
		}
	}
	wantBehind(t, p.URL, "before any push", nil)

	github := func(event, sig string) map[string]string {
		return map[string]string{"X-GitHub-Event": event, "X-GitHub-Delivery": "d1", "X-Hub-Signature-256": sig}
	}
	// Refused or ignored deliveries change nothing.
	for _, tc := range []struct {
		name, file string
		headers    map[string]string
		want       int
	}{
		{"bad signature", "github-push.json", github("push", hubSignature(t, "not-the-secret", "github-push.json")), 401},
		{"no signature", "github-push.json", map[string]string{"X-GitHub-Event": "push"}, 401},
		{"gitlab bad token", "gitlab-push.json", map[string]string{"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": "nope"}, 401},
		{"gitea bad signature", "gitea-push.json", map[string]string{"X-Gitea-Event": "push", "X-Hub-Signature-256": hubSignature(t, "nope", "gitea-push.json")}, 401},
		{"github tag push", "github-tag.json", github("push", hubSignature(t, hookSecret, "github-tag.json")), 202},
		{"github deleted branch", "github-delete.json", github("push", hubSignature(t, hookSecret, "github-delete.json")), 202},
		{"gitlab tag push", "gitlab-tag.json", map[string]string{"X-Gitlab-Event": "Tag Push Hook", "X-Gitlab-Token": hookSecret}, 202},
		{"gitlab deleted branch", "gitlab-delete.json", map[string]string{"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": hookSecret}, 202},
		{"github ping", "github-ping.json", github("ping", hubSignature(t, hookSecret, "github-ping.json")), 200},
	} {
		if code := deliver(t, p.URL, tc.file, tc.headers); code != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, code, tc.want)
		}
	}
	var heads []gitops.Head
	if getJSON(t, p.URL+"/desired", &heads); len(heads) != 0 {
		t.Fatalf("refused and ignored deliveries set heads: %+v", heads)
	}
	wantBehind(t, p.URL, "after refused deliveries", nil)

	// Signed pushes of B: exactly that repo and branch's servers are behind.
	if code := deliver(t, p.URL, "github-push.json", github("push", hubSignature(t, hookSecret, "github-push.json"))); code != 200 {
		t.Fatalf("signed GitHub push: %d", code)
	}
	wantBehind(t, p.URL, "after the GitHub push", map[string]string{"rs-01": githubB, "rs-02": githubB})
	if code := deliver(t, p.URL, "gitea-push.json", map[string]string{"X-Gitea-Event": "push", "X-Forgejo-Event": "push",
		"X-Hub-Signature-256": hubSignature(t, hookSecret, "gitea-push.json")}); code != 200 {
		t.Fatalf("signed Gitea push: %d", code)
	}
	if code := deliver(t, p.URL, "gitlab-push.json", map[string]string{"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": hookSecret}); code != 200 {
		t.Fatalf("GitLab push: %d", code)
	}
	allBehind := map[string]string{"rs-01": githubB, "rs-02": githubB, "ng-01": giteaB, "sp-01": gitlabB}
	wantBehind(t, p.URL, "after the three pushes", allBehind)

	// A pipeline report of B with a short SHA, in upper case, clears it.
	body := `{"server_group":"fleet","host":"rs-01","status":"synced","repo_name":"rsyslog","branch":"master","commit_sha":"` + strings.ToUpper(githubB[:7]) + `"}`
	if code, m := post(t, p.URL+"/status/pipeline", body); code != 200 || m["behind"] != false || m["desired_commit_sha"] != githubB {
		t.Fatalf("pipeline report of B: %d %v; want not behind", code, m)
	}
	delete(allBehind, "rs-01")
	wantBehind(t, p.URL, "after the pipeline of B", allBehind)

	// report desired, from a pipeline without a webhook: the commit comes
	// from the CI's variables.
	out, errOut, code := runBin(t, []string{"GITOPS_STATUS_URL=" + p.URL, "GITHUB_ACTIONS=true", "GITHUB_SHA=cafef00dcafef00d", "GITHUB_REF_NAME=main", "GITHUB_ACTOR=dave"},
		"", "report", "desired", "--repo", "haproxy")
	if code != 0 || !strings.Contains(out, "cafef00") {
		t.Fatalf("report desired: exit %d, %q %q", code, out, errOut)
	}
	allBehind["hp-01"] = "cafef00dcafef00d"
	wantBehind(t, p.URL, "after report desired", allBehind)
	if _, errOut, code := runBin(t, []string{"GITOPS_STATUS_URL=" + p.URL}, "", "report", "desired", "--repo", "haproxy", "--branch", "main", "--commit", "xyz"); code != 1 || !strings.Contains(errOut, "hexadecimal") {
		t.Fatalf("report desired with a bad commit: exit %d %q, want 1 and why", code, errOut)
	}

	// Heads survive a restart.
	getJSON(t, p.URL+"/desired", &heads)
	p.cmd.Process.Signal(syscall.SIGTERM)
	p.wait(30 * time.Second)
	p = startServe(t, append(env, "GITOPS_STATUS_GIT_WEBHOOK_SECRET="+hookSecret), args...)
	var again []gitops.Head
	getJSON(t, p.URL+"/desired", &again)
	if len(again) != 4 || !sameHeads(again, heads) {
		t.Fatalf("heads after a restart: %+v, want %+v", again, heads)
	}
	wantBehind(t, p.URL, "after a restart", allBehind)

	// And export/import: the document carries them under "desired".
	exported, errOut, code := runBin(t, env, "", append([]string{"export"}, args...)...)
	if code != 0 {
		t.Fatalf("export: %d %s", code, errOut)
	}
	var doc struct{ Desired []gitops.Head }
	if err := json.Unmarshal([]byte(exported), &doc); err != nil || !sameHeads(doc.Desired, heads) {
		t.Fatalf("exported desired %+v (%v), want %+v", doc.Desired, err, heads)
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	p.wait(30 * time.Second)
}

func sameHeads(a, b []gitops.Head) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].RepoName != b[i].RepoName || a[i].Branch != b[i].Branch || a[i].CommitSHA != b[i].CommitSHA || !a[i].UpdatedAt.Equal(b[i].UpdatedAt) {
			return false
		}
	}
	return true
}

// importInto imports doc into a fresh store of env and checks the heads
// come back with the servers' behind.
func importInto(t *testing.T, env, args []string, doc string) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "export.json")
	if err := os.WriteFile(file, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, errOut, code := runBin(t, env, "", append(append([]string{"import"}, args...), file)...); code != 0 || !strings.Contains(out, "4 heads") {
		t.Fatalf("import: %d %q %q", code, out, errOut)
	}
	p := startServe(t, env, args...)
	var heads []gitops.Head
	if getJSON(t, p.URL+"/desired", &heads); len(heads) != 4 {
		t.Fatalf("imported heads: %+v", heads)
	}
	wantBehind(t, p.URL, "after import", map[string]string{"rs-02": githubB, "ng-01": giteaB, "sp-01": gitlabB, "hp-01": "cafef00dcafef00d"})
}

// TestDesiredBlackBox: servers at commit A; signed GitHub-, Gitea- and
// GitLab-shaped pushes of B make exactly that repo and branch's servers
// behind since the push; a pipeline report of B (short SHA) clears it; a
// bad signature, a tag push and a deleted branch change nothing; heads
// survive a restart and export/import. On SQLite.
func TestDesiredBlackBox(t *testing.T) {
	dir := t.TempDir()
	args := []string{"--data-dir", dir}
	checkDesiredBlackBox(t, nil, args)
	doc, _, _ := runBin(t, nil, "", "export", "--data-dir", dir)
	importInto(t, nil, []string{"--data-dir", t.TempDir()}, doc)
}

// TestDesiredBlackBoxPostgres is TestDesiredBlackBox on PostgreSQL.
func TestDesiredBlackBoxPostgres(t *testing.T) {
	env := []string{"GITOPS_STATUS_DATABASE_URL=" + pgtest.NewDatabase(t)}
	args := []string{"--data-dir", t.TempDir()}
	checkDesiredBlackBox(t, env, args)
	doc, _, _ := runBin(t, env, "", "export")
	importInto(t, []string{"GITOPS_STATUS_DATABASE_URL=" + pgtest.NewDatabase(t)}, []string{"--data-dir", t.TempDir()}, doc)
}

// TestHookRouteNeedsSecret: without --git-webhook-secret POST /hooks/git
// does not exist; with a tokens file it needs no bearer token, and the
// secret may come from a file (_FILE).
func TestHookRouteNeedsSecret(t *testing.T) {
	p := startServe(t, nil, "--data-dir", t.TempDir())
	if code := deliver(t, p.URL, "gitlab-push.json", map[string]string{"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": hookSecret}); code != 404 {
		t.Fatalf("without a secret: %d, want 404", code)
	}
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "secret")
	if err := os.WriteFile(secretFile, []byte(hookSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tokens := filepath.Join(dir, "tokens.yaml")
	if err := os.WriteFile(tokens, []byte("tokens:\n  - name: grafana\n    token: read-token-0123456789\n    scopes: [read]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p = startServe(t, []string{"GITOPS_STATUS_GIT_WEBHOOK_SECRET_FILE=" + secretFile}, "--data-dir", dir, "--tokens-file", tokens)
	if code := deliver(t, p.URL, "gitlab-push.json", map[string]string{"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": hookSecret}); code != 200 {
		t.Fatalf("with the secret from a file and a tokens file: %d, want 200", code)
	}
	if code, _ := post(t, p.URL+"/desired", `{"repo_name":"r","branch":"b","commit_sha":"abcd"}`); code != 401 {
		t.Fatalf("POST /desired without a token: %d, want 401", code)
	}
}
