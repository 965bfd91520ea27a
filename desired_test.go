package gitops_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	gitops "github.com/gitops-status/gitops-status"
)

func TestSameCommit(t *testing.T) {
	const full = "def5678901234567890abcdef1234567890abcde"
	tests := []struct {
		name string
		a, b string
		want bool
	}{
		{"identical full", full, full, true},
		{"short 7 prefix", "def5678", full, true},
		{"long first", full, "def5678", true},
		{"upper case short", "DEF5678", full, true},
		{"upper case full", strings.ToUpper(full), full, true},
		{"6 digits prefix is too short", "def567", full, false},
		{"different commit", "abc1234", full, false},
		{"prefix differs late", "def5679", full, false},
		{"identical short", "abcd", "abcd", true},
		{"identical short other case", "ABCD", "abcd", true},
		{"empty record commit", "", full, false},
		{"both empty", "", "", false},
		{"short 8 vs short 7 same", "def56789", "def5678", true},
		{"short 8 vs short 7 other", "def56780", "def5678x", false},
		{"non-letters that fold alike", "abc123@", "abc123`", false},
		{"mixed case prefix", "AbC1234", "abc1234ff", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := gitops.SameCommit(tt.a, tt.b); got != tt.want {
				t.Fatalf("SameCommit(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.want)
			}
		})
	}
}

func TestSetHeadValidate(t *testing.T) {
	ok := gitops.SetHead{RepoName: "rsyslog", Branch: "master", CommitSHA: "DEF5678"}
	tests := []struct {
		name      string
		edit      func(u *gitops.SetHead)
		wantField string
	}{
		{"valid", func(*gitops.SetHead) {}, ""},
		{"slash in names", func(u *gitops.SetHead) { u.RepoName, u.Branch = "org/rsyslog", "feature/x" }, ""},
		{"255 characters", func(u *gitops.SetHead) { u.RepoName = strings.Repeat("é", 255) }, ""},
		{"256 characters", func(u *gitops.SetHead) { u.RepoName = strings.Repeat("r", 256) }, "repo_name"},
		{"empty repo", func(u *gitops.SetHead) { u.RepoName = "" }, "repo_name"},
		{"empty branch", func(u *gitops.SetHead) { u.Branch = "" }, "branch"},
		{"control in branch", func(u *gitops.SetHead) { u.Branch = "ma\nster" }, "branch"},
		{"DEL in repo", func(u *gitops.SetHead) { u.RepoName = "rs\x7fyslog" }, "repo_name"},
		{"C1 control in repo", func(u *gitops.SetHead) { u.RepoName = "rs\u0085yslog" }, "repo_name"},
		{"invalid UTF-8", func(u *gitops.SetHead) { u.RepoName = "rs\xffyslog" }, "repo_name"},
		{"4 hex digits", func(u *gitops.SetHead) { u.CommitSHA = "abcd" }, ""},
		{"3 hex digits", func(u *gitops.SetHead) { u.CommitSHA = "abc" }, "commit_sha"},
		{"64 hex digits", func(u *gitops.SetHead) { u.CommitSHA = strings.Repeat("a", 64) }, ""},
		{"65 hex digits", func(u *gitops.SetHead) { u.CommitSHA = strings.Repeat("a", 65) }, "commit_sha"},
		{"not hex", func(u *gitops.SetHead) { u.CommitSHA = "defg678" }, "commit_sha"},
		{"empty commit", func(u *gitops.SetHead) { u.CommitSHA = "" }, "commit_sha"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := ok
			tt.edit(&u)
			err := u.Validate()
			if tt.wantField == "" {
				if err != nil {
					t.Fatalf("Validate: %v, want nil", err)
				}
				if u.CommitSHA != strings.ToLower(u.CommitSHA) {
					t.Fatalf("commit %q is not stored lower-case", u.CommitSHA)
				}
				return
			}
			var e *gitops.Error
			if err == nil || gitops.ErrorCode(err) != gitops.EINVALID {
				t.Fatalf("Validate: %v, want an EINVALID error on %s", err, tt.wantField)
			}
			if e = err.(*gitops.Error); e.Field != tt.wantField {
				t.Fatalf("error field %q, want %q (%v)", e.Field, tt.wantField, err)
			}
		})
	}
}

func TestSetHeadApply(t *testing.T) {
	t0 := time.Date(2026, 4, 26, 10, 0, 0, 0, time.UTC)
	cur := &gitops.Head{RepoName: "rsyslog", Branch: "master", CommitSHA: "aaaaaaa", UpdatedAt: t0, ReportedAt: t0}
	tests := []struct {
		name        string
		cur         *gitops.Head
		u           gitops.SetHead
		wantApplied bool
		wantEvent   []gitops.Change
		wantUpdated time.Time
	}{
		{"new head", nil, gitops.SetHead{CommitSHA: "bbbbbbb"}, true, []gitops.Change{gitops.ChangeCreated}, t0.Add(time.Hour)},
		{"new commit", cur, gitops.SetHead{CommitSHA: "bbbbbbb"}, true, []gitops.Change{gitops.ChangeCommitSHA}, t0.Add(time.Hour)},
		{"same commit keeps updated_at, no event", cur, gitops.SetHead{CommitSHA: "aaaaaaa"}, true, nil, t0},
		{"older reported_at is not applied", cur, gitops.SetHead{CommitSHA: "bbbbbbb", ReportedAt: t0.Add(-time.Second)}, false, nil, t0},
		{"newer reported_at applies", cur, gitops.SetHead{CommitSHA: "bbbbbbb", ReportedAt: t0.Add(time.Second)}, true, []gitops.Change{gitops.ChangeCommitSHA}, t0.Add(time.Hour)},
		{"no reported_at: arrival order", cur, gitops.SetHead{CommitSHA: "ccccccc"}, true, []gitops.Change{gitops.ChangeCommitSHA}, t0.Add(time.Hour)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := tt.u
			u.RepoName, u.Branch = "rsyslog", "master"
			out := u.Apply(tt.cur, t0.Add(time.Hour))
			if out.Applied != tt.wantApplied {
				t.Fatalf("Applied = %v, want %v (warnings %q)", out.Applied, tt.wantApplied, out.Warnings)
			}
			if !tt.wantApplied && (len(out.Warnings) != 1 || out.Head != *tt.cur) {
				t.Fatalf("not applied: head %+v warnings %q; want the stored head and one warning", out.Head, out.Warnings)
			}
			if !out.Head.UpdatedAt.Equal(tt.wantUpdated) {
				t.Fatalf("updated_at = %s, want %s", out.Head.UpdatedAt, tt.wantUpdated)
			}
			if tt.wantEvent == nil {
				if out.Event != nil {
					t.Fatalf("event %+v, want none", out.Event)
				}
				return
			}
			ev := out.Event
			if ev == nil || ev.Source != gitops.SourceGit || ev.ServerGroup != "" || ev.Host != "" ||
				ev.RepoName != "rsyslog" || ev.Branch != "master" || ev.CommitSHA != u.CommitSHA ||
				len(ev.Changes) != 1 || ev.Changes[0] != tt.wantEvent[0] {
				t.Fatalf("event %+v, want a git event of rsyslog master %s with changes %v", ev, u.CommitSHA, tt.wantEvent)
			}
		})
	}
}

func TestHeadsDesired(t *testing.T) {
	t0 := time.Date(2026, 4, 26, 10, 0, 0, 0, time.UTC)
	heads := gitops.NewHeads([]gitops.Head{
		{RepoName: "org/rsyslog", Branch: "master", CommitSHA: "1111111111", UpdatedAt: t0},
		{RepoName: "splunk", Branch: "main", CommitSHA: "2222222222", UpdatedAt: t0.Add(time.Minute)},
		{RepoName: "nginx", Branch: "main", CommitSHA: "3333333333", UpdatedAt: t0},
		{RepoName: "org/nginx", Branch: "main", CommitSHA: "4444444444", UpdatedAt: t0.Add(time.Hour)},
		{RepoName: "a/itnm", Branch: "main", CommitSHA: "5555555555", UpdatedAt: t0},
		{RepoName: "b/itnm", Branch: "main", CommitSHA: "6666666666", UpdatedAt: t0.Add(time.Hour)},
	})
	tests := []struct {
		name                 string
		repo, branch, commit string
		want                 gitops.Desired
	}{
		{"segment match, behind", "rsyslog", "master", "0000000", gitops.Desired{"1111111111", true, t0}},
		{"full name match, behind", "org/rsyslog", "master", "0000000", gitops.Desired{"1111111111", true, t0}},
		{"segment match, on the head (short SHA)", "rsyslog", "master", "1111111", gitops.Desired{"1111111111", false, time.Time{}}},
		{"empty commit is behind", "rsyslog", "master", "", gitops.Desired{"1111111111", true, t0}},
		{"other branch: no head", "rsyslog", "develop", "0000000", gitops.Desired{}},
		{"other org's name does not match", "other/rsyslog", "master", "0000000", gitops.Desired{}},
		{"a prefix segment does not match", "org", "master", "0000000", gitops.Desired{}},
		{"exact name beats a newer segment match", "nginx", "main", "3333333", gitops.Desired{"3333333333", false, time.Time{}}},
		{"newest of two segment matches", "itnm", "main", "5555555", gitops.Desired{"6666666666", true, t0.Add(time.Hour)}},
		{"no repo", "", "main", "", gitops.Desired{}},
		{"upper-case record commit", "splunk", "main", "2222222222", gitops.Desired{"2222222222", false, time.Time{}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := heads.Desired(tt.repo, tt.branch, tt.commit); got != tt.want {
				t.Fatalf("Desired(%q, %q, %q) = %+v, want %+v", tt.repo, tt.branch, tt.commit, got, tt.want)
			}
		})
	}
	var none *gitops.Heads
	if got := none.Desired("rsyslog", "master", ""); got != (gitops.Desired{}) {
		t.Fatalf("nil Heads: %+v, want nothing", got)
	}
}

func TestParseSetHead(t *testing.T) {
	now := time.Date(2026, 4, 26, 10, 0, 0, 0, time.UTC)
	p := gitops.ParseOptions{Now: now, MaxClockSkew: 5 * time.Minute}
	u, warn, err := gitops.ParseSetHead([]byte(`{"repo_name":"rsyslog","branch":"master","commit_sha":"DEF5678","updated_at":"x","extra":1}`), p)
	if err != nil || u.CommitSHA != "def5678" || len(warn) != 2 {
		t.Fatalf("ParseSetHead = %+v, %q, %v; want commit def5678 and two warnings", u, warn, err)
	}
	for _, body := range []string{
		`{"repo_name":"rsyslog","branch":"master"}`,
		`{"repo_name":"rsyslog","branch":"master","commit_sha":"def5678","reported_at":"2026-04-26T11:00:00Z"}`,
		`{"repo_name":1,"branch":"master","commit_sha":"def5678"}`,
		`[]`,
	} {
		if _, _, err := gitops.ParseSetHead([]byte(body), p); gitops.ErrorCode(err) != gitops.EINVALID {
			t.Errorf("ParseSetHead(%s) = %v, want EINVALID", body, err)
		}
	}
	h := gitops.Head{RepoName: "org/rsyslog", Branch: "master", CommitSHA: "def5678", UpdatedAt: now}
	b, _ := json.Marshal(h)
	var back gitops.Head
	if err := json.Unmarshal(b, &back); err != nil || back != h {
		t.Fatalf("round trip of %s = %+v, %v", b, back, err)
	}
}
