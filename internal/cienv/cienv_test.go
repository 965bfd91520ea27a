package cienv

import "testing"

func TestDetect(t *testing.T) {
	const sha = "eba09b46064473a1d345da7abf28b477468e8dbd"
	tests := []struct {
		name string
		env  map[string]string
		want Info
	}{
		{"no CI", map[string]string{"CI_COMMIT_SHA": sha, "GIT_COMMIT": sha}, Info{}},
		{"generic CI=true is not a CI we know", map[string]string{"CI": "true", "CI_COMMIT_SHA": sha}, Info{}},
		{"woodpecker", map[string]string{"CI": "woodpecker", "CI_COMMIT_SHA": sha, "CI_COMMIT_BRANCH": "main",
			"CI_COMMIT_AUTHOR": "john-doe", "CI_PIPELINE_AUTHOR": "octocat"},
			Info{"woodpecker", sha, "main", "octocat"}},
		{"older woodpecker", map[string]string{"CI": "woodpecker", "CI_COMMIT_SHA": sha, "CI_COMMIT_BRANCH": "main", "CI_COMMIT_AUTHOR": "john-doe"},
			Info{"woodpecker", sha, "main", "john-doe"}},
		{"gitlab branch pipeline", map[string]string{"CI": "true", "GITLAB_CI": "true", "CI_COMMIT_SHA": sha,
			"CI_COMMIT_BRANCH": "master", "CI_COMMIT_REF_NAME": "master", "GITLAB_USER_LOGIN": "alice"},
			Info{"gitlab-ci", sha, "master", "alice"}},
		{"gitlab merge request pipeline", map[string]string{"GITLAB_CI": "true", "CI_COMMIT_SHA": sha,
			"CI_COMMIT_REF_NAME": "feature", "GITLAB_USER_LOGIN": "alice"},
			Info{"gitlab-ci", sha, "feature", "alice"}},
		{"github push", map[string]string{"CI": "true", "GITHUB_ACTIONS": "true", "GITHUB_SHA": sha,
			"GITHUB_REF_NAME": "main", "GITHUB_HEAD_REF": "", "GITHUB_ACTOR": "octocat"},
			Info{"github-actions", sha, "main", "octocat"}},
		{"github pull request", map[string]string{"GITHUB_ACTIONS": "true", "GITHUB_SHA": sha,
			"GITHUB_REF_NAME": "12/merge", "GITHUB_HEAD_REF": "feature", "GITHUB_ACTOR": "octocat"},
			Info{"github-actions", sha, "feature", "octocat"}},
		{"jenkins with the git plugin", map[string]string{"JENKINS_URL": "https://ci/", "GIT_COMMIT": sha,
			"GIT_BRANCH": "origin/master", "BUILD_USER_ID": "bob"},
			Info{"jenkins", sha, "master", "bob"}},
		{"jenkins multibranch", map[string]string{"JENKINS_URL": "https://ci/", "GIT_COMMIT": sha,
			"BRANCH_NAME": "main", "GIT_BRANCH": "main"},
			Info{"jenkins", sha, "main", ""}},
		{"jenkins refs/remotes", map[string]string{"JENKINS_HOME": "/var/jenkins_home", "GIT_BRANCH": "refs/remotes/upstream/release/1.x"},
			Info{"jenkins", "", "release/1.x", ""}},
		{"jenkins change request", map[string]string{"JENKINS_URL": "https://ci/", "BRANCH_NAME": "PR-24", "CHANGE_AUTHOR": "carol"},
			Info{"jenkins", "", "PR-24", "carol"}},
		{"values are trimmed", map[string]string{"CI": "woodpecker", "CI_COMMIT_SHA": " " + sha + "\n"},
			Info{"woodpecker", sha, "", ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Detect(func(k string) string { return tt.env[k] }); got != tt.want {
				t.Fatalf("Detect = %+v, want %+v", got, tt.want)
			}
		})
	}
}
