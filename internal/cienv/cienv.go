// Package cienv recognises the CI system a command runs in (Woodpecker,
// GitLab CI, GitHub Actions, Jenkins) and reads the deployment's commit,
// branch and actor from that system's own variables, so that
// `gitops-status report pipeline` fills commit_sha, branch and updated_by
// without the pipeline passing them. docs/integrations.md lists the same
// table for users; keep the two in step.
package cienv

import "strings"

// Info is what the environment says about the running deployment. Fields
// are "" when the CI does not provide them.
type Info struct {
	// System names the CI: "woodpecker", "gitlab-ci", "github-actions" or
	// "jenkins"; "" outside a recognised CI, and then every field is "".
	System    string
	CommitSHA string
	Branch    string
	// Actor is the user who started the pipeline.
	Actor string
}

// Detect reads Info through getenv (os.Getenv in the program). A CI is
// recognised by the variable it documents for that purpose:
// CI=woodpecker, GITHUB_ACTIONS=true, GITLAB_CI=true, or JENKINS_URL (or
// JENKINS_HOME) set; the first that matches, in that order, wins.
func Detect(getenv func(string) string) Info {
	first := func(names ...string) string {
		for _, n := range names {
			if v := strings.TrimSpace(getenv(n)); v != "" {
				return v
			}
		}
		return ""
	}
	switch {
	case getenv("CI") == "woodpecker":
		return Info{
			System:    "woodpecker",
			CommitSHA: first("CI_COMMIT_SHA"),
			// For pull requests Woodpecker sets the target branch here.
			Branch: first("CI_COMMIT_BRANCH"),
			// CI_PIPELINE_AUTHOR (who started the pipeline) is newer than
			// CI_COMMIT_AUTHOR; older servers only set the latter.
			Actor: first("CI_PIPELINE_AUTHOR", "CI_COMMIT_AUTHOR"),
		}
	case getenv("GITHUB_ACTIONS") == "true":
		return Info{
			System:    "github-actions",
			CommitSHA: first("GITHUB_SHA"),
			// GITHUB_HEAD_REF is set for pull requests only, whose
			// GITHUB_REF_NAME is "<number>/merge".
			Branch: first("GITHUB_HEAD_REF", "GITHUB_REF_NAME"),
			Actor:  first("GITHUB_ACTOR"),
		}
	case getenv("GITLAB_CI") == "true":
		return Info{
			System:    "gitlab-ci",
			CommitSHA: first("CI_COMMIT_SHA"),
			// CI_COMMIT_BRANCH is unset in merge request and tag pipelines,
			// where CI_COMMIT_REF_NAME is the source branch or the tag.
			Branch: first("CI_COMMIT_BRANCH", "CI_COMMIT_REF_NAME"),
			Actor:  first("GITLAB_USER_LOGIN"),
		}
	case getenv("JENKINS_URL") != "" || getenv("JENKINS_HOME") != "":
		return Info{
			System:    "jenkins",
			CommitSHA: first("GIT_COMMIT"),
			// BRANCH_NAME is set by multibranch pipelines; GIT_BRANCH by the
			// Git plugin, as the remote-tracking name ("origin/main").
			Branch: first("BRANCH_NAME", "GIT_LOCAL_BRANCH", "CHANGE_BRANCH"),
			// BUILD_USER_ID comes from the Build User Vars plugin;
			// CHANGE_AUTHOR is set for change requests in multibranch jobs.
			Actor: first("BUILD_USER_ID", "CHANGE_AUTHOR"),
		}.withGitBranch(first("GIT_BRANCH"))
	}
	return Info{}
}

func (i Info) withGitBranch(gitBranch string) Info {
	if i.Branch == "" {
		i.Branch = localBranch(gitBranch)
	}
	return i
}

// localBranch turns the Git plugin's GIT_BRANCH ("origin/main",
// "refs/remotes/origin/main", "refs/heads/main") into the branch name.
func localBranch(b string) string {
	switch {
	case strings.HasPrefix(b, "refs/heads/"):
		return strings.TrimPrefix(b, "refs/heads/")
	case strings.HasPrefix(b, "refs/remotes/"):
		_, name, _ := strings.Cut(strings.TrimPrefix(b, "refs/remotes/"), "/")
		return name
	case strings.HasPrefix(b, "origin/"):
		return strings.TrimPrefix(b, "origin/")
	}
	return b
}
