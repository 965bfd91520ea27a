package examples_test

import (
	"os"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"

	gitops "github.com/gitops-status/gitops-status"
	"go.yaml.in/yaml/v3"
)

// A step is a shell step of a CI snippet, as that CI would run it.
type step struct {
	shell  []string // the CI's shell and its flags, before the script
	script string
	env    []string // what the snippet itself puts in the environment
}

// ciRun is what the test knows of one run of a CI: the variables the CI
// sets, and the values of its secrets and expressions.
type ciRun struct {
	env     []string
	secrets map[string]string // Woodpecker from_secret, Jenkins credentials()
	exprs   map[string]string // GitHub ${{ … }}
	// values replaces values the snippet sets itself (the example server's
	// URL in a Jenkinsfile) with the test's.
	values map[string]string
}

// woodpeckerSteps reads .woodpecker.yml steps. Woodpecker substitutes
// ${VAR} in the configuration before the shell sees it and turns $$ into $;
// a snippet relying on the former would behave differently here, so it is
// refused.
func woodpeckerSteps(t *testing.T, path string, r ciRun) map[string]step {
	var doc struct {
		Steps []struct {
			Name        string
			Commands    []string
			Environment map[string]yaml.Node
		}
	}
	decodeYAML(t, path, &doc)
	steps := map[string]step{}
	for _, s := range doc.Steps {
		st := step{shell: []string{"sh", "-e", "-c"}}
		for _, c := range s.Commands {
			if regexp.MustCompile(`(^|[^$])\$\{`).MatchString(c) {
				t.Fatalf("%s: step %s uses ${…}, which Woodpecker substitutes itself; write $VAR or $${…}", path, s.Name)
			}
			st.script += strings.ReplaceAll(c, "$$", "$") + "\n"
		}
		for k, v := range s.Environment {
			var secret struct {
				FromSecret string `yaml:"from_secret"`
			}
			if v.Kind == yaml.MappingNode && v.Decode(&secret) == nil && secret.FromSecret != "" {
				val, ok := r.secrets[secret.FromSecret]
				if !ok {
					t.Fatalf("%s: step %s needs secret %s, which the test does not know", path, s.Name, secret.FromSecret)
				}
				st.env = append(st.env, k+"="+val)
			} else {
				st.env = append(st.env, k+"="+v.Value)
			}
		}
		steps[s.Name] = st
	}
	return steps
}

// gitlabSteps reads a job's script and after_script.
func gitlabSteps(t *testing.T, path string, _ ciRun) map[string]step {
	var doc map[string]struct {
		Script      []string `yaml:"script"`
		AfterScript []string `yaml:"after_script"`
	}
	decodeYAML(t, path, &doc)
	steps := map[string]step{}
	for job, j := range doc {
		steps[job+".after_script"] = step{shell: []string{"sh", "-e", "-c"}, script: strings.Join(j.AfterScript, "\n")}
	}
	return steps
}

var githubExpr = regexp.MustCompile(`\$\{\{\s*(.*?)\s*\}\}`)

// githubSteps reads a workflow's named steps; ${{ … }} in env is replaced
// by the run's value of the expression, and one the test does not know
// fails it. run: goes to bash as GitHub runs it on Linux.
func githubSteps(t *testing.T, path string, r ciRun) map[string]step {
	var doc struct {
		Jobs map[string]struct {
			Steps []struct {
				Name string
				Run  string
				Env  map[string]string
			}
		}
	}
	decodeYAML(t, path, &doc)
	steps := map[string]step{}
	for _, j := range doc.Jobs {
		for _, s := range j.Steps {
			if githubExpr.MatchString(s.Run) {
				t.Fatalf("%s: step %q has ${{ }} in run:, an injection risk; pass it through env:", path, s.Name)
			}
			st := step{shell: []string{"bash", "--noprofile", "--norc", "-eo", "pipefail", "-c"}, script: s.Run}
			for k, v := range s.Env {
				v = githubExpr.ReplaceAllStringFunc(v, func(m string) string {
					expr := githubExpr.FindStringSubmatch(m)[1]
					val, ok := r.exprs[expr]
					if !ok {
						t.Fatalf("%s: step %q uses ${{ %s }}, which the test does not know", path, s.Name, expr)
					}
					return val
				})
				st.env = append(st.env, k+"="+v)
			}
			steps[s.Name] = st
		}
	}
	return steps
}

var (
	jenkinsPost = regexp.MustCompile(`(?s)\b(success|failure|always)\s*\{\s*sh\s*'''(.*?)'''`)
	jenkinsEnv  = regexp.MustCompile(`(?m)^\s*([A-Z_][A-Z0-9_]*)\s*=\s*(?:'([^']*)'|credentials\('([^']*)'\))\s*$`)
)

// jenkinsSteps reads a Jenkinsfile's post { success/failure { sh ”'…”' } }
// steps and its environment block. A ”' string is not interpolated by
// Groovy; a backslash before a newline joins the lines, as Groovy does, and
// any other backslash fails the test rather than guess Groovy's escapes.
func jenkinsSteps(t *testing.T, path string, r ciRun) map[string]step {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var env []string
	if block := regexp.MustCompile(`(?s)environment\s*\{(.*?)\}`).FindSubmatch(b); block != nil {
		for _, m := range jenkinsEnv.FindAllStringSubmatch(string(block[1]), -1) {
			switch {
			case m[3] != "":
				val, ok := r.secrets[m[3]]
				if !ok {
					t.Fatalf("%s: credentials('%s') is not known to the test", path, m[3])
				}
				env = append(env, m[1]+"="+val)
			case r.values[m[2]] != "":
				env = append(env, m[1]+"="+r.values[m[2]])
			default:
				env = append(env, m[1]+"="+m[2])
			}
		}
	}
	steps := map[string]step{}
	for _, m := range jenkinsPost.FindAllStringSubmatch(string(b), -1) {
		script := strings.ReplaceAll(m[2], "\\\n", "")
		if strings.Contains(script, `\`) {
			t.Fatalf("%s: post %s has a backslash Groovy would interpret", path, m[1])
		}
		steps["post."+m[1]] = step{shell: []string{"sh", "-xe", "-c"}, script: script, env: env}
	}
	return steps
}

func decodeYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// TestCISnippets runs the report steps of every CI snippet in a real git
// checkout, with the variables that CI sets, against a real server, and
// checks what was stored: after a successful deployment and after a failed
// one.
func TestCISnippets(t *testing.T) {
	needTools(t, "sh", "bash", "git", "curl", "jq")
	srv := startServer(t)
	base := exampleEnv(t)
	repo := gitRepo(t, base, map[string]string{"rsyslog.conf": "$IncludeConfig /etc/rsyslog.d/*.conf\n", "rsyslog.d/50-default.conf": "*.* -/var/log/syslog\n"})
	writeFiles(t, repo, map[string]string{"rsyslog.d/50-default.conf": "*.* -/var/log/messages\n", "rsyslog.d/60-forward.conf": "*.* @@logs:514\n"})
	for _, args := range [][]string{{"add", "-A"}, {"-c", "user.name=ops", "-c", "user.email=ops@example.com", "commit", "-q", "-m", "forward"}} {
		if out, code := run(t, repo, base, "", "git", args...); code != 0 {
			t.Fatal(out)
		}
	}
	prev, _ := run(t, repo, base, "", "git", "rev-parse", "HEAD~1")
	sha, _ := run(t, repo, base, "", "git", "rev-parse", "HEAD")
	prev, sha = strings.TrimSpace(prev), strings.TrimSpace(sha)
	changed := []string{"rsyslog.d/50-default.conf", "rsyslog.d/60-forward.conf"}
	const token = "ci-token"

	woodpecker := ciRun{
		env: []string{"CI=woodpecker", "CI_COMMIT_SHA=" + sha, "CI_PREV_COMMIT_SHA=" + prev, "CI_COMMIT_BRANCH=master",
			"CI_COMMIT_AUTHOR=john-doe", "CI_PIPELINE_AUTHOR=octocat", "CI_REPO_NAME=rsyslog"},
		secrets: map[string]string{"gitops_status_url": srv.URL, "gitops_status_token": token},
	}
	gitlab := func(jobStatus string) ciRun {
		return ciRun{env: []string{"CI=true", "GITLAB_CI=true", "CI_COMMIT_SHA=" + sha, "CI_COMMIT_BEFORE_SHA=" + prev,
			"CI_COMMIT_BRANCH=main", "CI_COMMIT_REF_NAME=main", "GITLAB_USER_LOGIN=alice", "CI_JOB_STATUS=" + jobStatus,
			// Project CI/CD variables reach the job as environment variables.
			"GITOPS_STATUS_URL=" + srv.URL, "GITOPS_STATUS_TOKEN=" + token}}
	}
	github := func(jobStatus string) ciRun {
		return ciRun{env: []string{"CI=true", "GITHUB_ACTIONS=true", "GITHUB_SHA=" + sha, "GITHUB_REF_NAME=main", "GITHUB_ACTOR=octocat"},
			exprs: map[string]string{"vars.GITOPS_STATUS_URL": srv.URL, "secrets.GITOPS_STATUS_TOKEN": token,
				"job.status": jobStatus, "github.event.before": prev}}
	}
	jenkins := ciRun{
		env: []string{"JENKINS_URL=https://jenkins.example.com/", "GIT_COMMIT=" + sha, "GIT_PREVIOUS_SUCCESSFUL_COMMIT=" + prev,
			"GIT_BRANCH=origin/main", "BUILD_USER_ID=bob"},
		secrets: map[string]string{"gitops-status-token": token},
		values:  map[string]string{"https://gitops-status.example.com": srv.URL},
	}

	type want struct {
		status            gitops.Status
		branch, updatedBy string
		validation        gitops.ValidationStatus
		files             []string
	}
	synced := func(branch, by string, v gitops.ValidationStatus) want {
		return want{gitops.StatusSynced, branch, by, v, changed}
	}
	failed := func(branch, by string) want {
		return want{gitops.StatusFailed, branch, by, gitops.ValidationUnknown, nil}
	}
	tests := []struct {
		file string
		read func(*testing.T, string, ciRun) map[string]step
		step string
		run  ciRun
		want want
	}{
		{"ci/woodpecker.yml", woodpeckerSteps, "report-status", woodpecker, synced("master", "octocat", gitops.ValidationPassed)},
		{"ci/woodpecker.yml", woodpeckerSteps, "report-failure", woodpecker, failed("master", "octocat")},
		{"ci/woodpecker-curl.yml", woodpeckerSteps, "report-status", woodpecker, synced("master", "john-doe", gitops.ValidationPassed)},
		{"ci/woodpecker-curl.yml", woodpeckerSteps, "report-failure", woodpecker, failed("master", "john-doe")},
		{"ci/gitlab-ci.yml", gitlabSteps, "deploy.after_script", gitlab("success"), synced("main", "alice", gitops.ValidationUnknown)},
		{"ci/gitlab-ci.yml", gitlabSteps, "deploy.after_script", gitlab("failed"), want{gitops.StatusFailed, "main", "alice", gitops.ValidationUnknown, changed}},
		{"ci/gitlab-ci-curl.yml", gitlabSteps, "deploy.after_script", gitlab("success"), synced("main", "alice", gitops.ValidationUnknown)},
		{"ci/gitlab-ci-curl.yml", gitlabSteps, "deploy.after_script", gitlab("failed"), want{gitops.StatusFailed, "main", "alice", gitops.ValidationUnknown, changed}},
		{"ci/github-actions.yml", githubSteps, "Report to gitops-status", github("success"), synced("main", "octocat", gitops.ValidationUnknown)},
		{"ci/github-actions.yml", githubSteps, "Report to gitops-status", github("failure"), want{gitops.StatusFailed, "main", "octocat", gitops.ValidationUnknown, changed}},
		{"ci/github-actions-curl.yml", githubSteps, "Report to gitops-status", github("success"), synced("main", "octocat", gitops.ValidationUnknown)},
		{"ci/github-actions-curl.yml", githubSteps, "Report to gitops-status", github("failure"), want{gitops.StatusFailed, "main", "octocat", gitops.ValidationUnknown, changed}},
		{"ci/Jenkinsfile", jenkinsSteps, "post.success", jenkins, synced("main", "bob", gitops.ValidationPassed)},
		{"ci/Jenkinsfile", jenkinsSteps, "post.failure", jenkins, failed("main", "bob")},
		{"ci/Jenkinsfile-curl", jenkinsSteps, "post.success", jenkins, synced("main", "bob", gitops.ValidationPassed)},
		{"ci/Jenkinsfile-curl", jenkinsSteps, "post.failure", jenkins, failed("main", "bob")},
	}
	for _, tt := range tests {
		t.Run(tt.file+"/"+tt.step+"/"+string(tt.want.status), func(t *testing.T) {
			steps := tt.read(t, tt.file, tt.run)
			st, ok := steps[tt.step]
			if !ok {
				names := make([]string, 0, len(steps))
				for n := range steps {
					names = append(names, n)
				}
				sort.Strings(names)
				t.Fatalf("%s has no step %q (it has %q)", tt.file, tt.step, names)
			}
			srv.forget(t, "rsyslog-prod", "rsyslog-01")
			env := append(append(exampleEnv(t), tt.run.env...), st.env...)
			out, code := run(t, repo, env, "", st.shell[0], append(st.shell[1:], st.script)...)
			if code != 0 {
				t.Fatalf("step %s: exit %d\n%s", tt.step, code, out)
			}
			s, status := srv.record(t, "rsyslog-prod", "rsyslog-01")
			if status != 200 {
				t.Fatalf("the step stored nothing (GET %d); its output:\n%s", status, out)
			}
			files := tt.want.files
			if files == nil {
				files = []string{}
			}
			if s.Status != tt.want.status || s.CommitSHA != sha || s.Branch != tt.want.branch || s.UpdatedBy != tt.want.updatedBy ||
				s.ValidationStatus != tt.want.validation || !reflect.DeepEqual(s.ChangedFiles, files) ||
				s.RepoName != "rsyslog" || s.ServerType != "rsyslog" || s.Environment != "prod" || s.ProjectName != "gitops-for-servers" {
				t.Fatalf("stored %+v\nwant %+v, commit %s", s, tt.want, sha)
			}
		})
	}
}
