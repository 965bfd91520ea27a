package gitops_test

import (
	"strings"
	"testing"

	gitops "github.com/gitops-status/gitops-status"
)

func TestParseScope(t *testing.T) {
	tests := []struct {
		in      string
		want    gitops.Scope
		wantErr bool
	}{
		{"read", gitops.ScopeRead, false},
		{"Pipeline", gitops.ScopePipeline, false},
		{"CRON", gitops.ScopeCron, false},
		{"admin", gitops.ScopeAdmin, false},
		{"write", "", true},
		{"", "", true},
		{"admin ", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := gitops.ParseScope(tt.in)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Fatalf("ParseScope(%q) = %q, %v; want %q, error %v", tt.in, got, err, tt.want, tt.wantErr)
			}
			if err != nil {
				mustContainAll(t, gitops.ErrorMessage(err), `"read", "pipeline", "cron", "admin"`)
			}
		})
	}
}

func mustContainAll(t *testing.T, s string, subs ...string) {
	t.Helper()
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			t.Fatalf("%q does not contain %q", s, sub)
		}
	}
}

func TestPrincipalValidate(t *testing.T) {
	scopes := []gitops.Scope{gitops.ScopePipeline}
	tests := []struct {
		name      string
		p         gitops.Principal
		wantField string // "" = valid
		wantMsg   string
	}{
		{"valid", gitops.Principal{Name: "ci", Scopes: scopes, Groups: []string{"rsyslog-*", "nginx-[ab]"}}, "", ""},
		{"no groups is every group", gitops.Principal{Name: "ci", Scopes: scopes}, "", ""},
		{"no name", gitops.Principal{Scopes: scopes}, "name", "needs one"},
		{"blank name", gitops.Principal{Name: "  ", Scopes: scopes}, "name", "needs one"},
		{"control character in name", gitops.Principal{Name: "c\ni", Scopes: scopes}, "name", "control characters"},
		{"no scopes", gitops.Principal{Name: "ci"}, "scopes", `token "ci" has no scopes`},
		{"unknown scope", gitops.Principal{Name: "ci", Scopes: []gitops.Scope{"write"}}, "scopes", `scope "write" is not one of`},
		{"scope not lower-case", gitops.Principal{Name: "ci", Scopes: []gitops.Scope{"Read"}}, "scopes", `scope "Read"`},
		{"bad glob", gitops.Principal{Name: "ci", Scopes: scopes, Groups: []string{"rsyslog-["}}, "groups", `"rsyslog-[" is not a valid glob`},
		{"empty glob", gitops.Principal{Name: "ci", Scopes: scopes, Groups: []string{""}}, "groups", "empty group pattern"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.p.Validate()
			if tt.wantField == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if gitops.ErrorCode(err) != gitops.EINVALID || gitops.ErrorField(err) != tt.wantField {
				t.Fatalf("Validate() = %v; want %s about field %s", err, gitops.EINVALID, tt.wantField)
			}
			mustContainAll(t, gitops.ErrorMessage(err), tt.wantMsg)
		})
	}
}

func TestPrincipalHas(t *testing.T) {
	tests := []struct {
		name   string
		scopes []gitops.Scope
		want   map[gitops.Scope]bool
	}{
		{"read only", []gitops.Scope{gitops.ScopeRead}, map[gitops.Scope]bool{gitops.ScopeRead: true}},
		{"pipeline and cron", []gitops.Scope{gitops.ScopePipeline, gitops.ScopeCron},
			map[gitops.Scope]bool{gitops.ScopePipeline: true, gitops.ScopeCron: true}},
		{"admin implies all", []gitops.Scope{gitops.ScopeAdmin},
			map[gitops.Scope]bool{gitops.ScopeRead: true, gitops.ScopePipeline: true, gitops.ScopeCron: true, gitops.ScopeAdmin: true}},
		{"pipeline does not imply read", []gitops.Scope{gitops.ScopePipeline}, map[gitops.Scope]bool{gitops.ScopePipeline: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := gitops.Principal{Name: "t", Scopes: tt.scopes}
			for _, sc := range gitops.Scopes {
				if got, want := p.Has(sc), tt.want[sc]; got != want {
					t.Errorf("Has(%s) = %v, want %v", sc, got, want)
				}
			}
		})
	}
}

func TestPrincipalMayWriteGroup(t *testing.T) {
	tests := []struct {
		groups []string
		group  string
		want   bool
	}{
		{nil, "anything", true},
		{[]string{"rsyslog-*"}, "rsyslog-prod", true},
		{[]string{"rsyslog-*"}, "rsyslog-", true},
		{[]string{"rsyslog-*"}, "nginx-prod", false},
		{[]string{"rsyslog-*"}, "rsyslog", false},
		{[]string{"rsyslog-*", "nginx-prod"}, "nginx-prod", true},
		{[]string{"nginx-prod"}, "nginx-prod2", false},
		{[]string{"splunk-?"}, "splunk-1", true},
		{[]string{"splunk-?"}, "splunk-10", false},
		{[]string{"env-[ab]"}, "env-b", true},
		{[]string{"env-[ab]"}, "env-c", false},
		{[]string{"*"}, "x", true},
		{[]string{`a\*`}, "a*", true},
		{[]string{`a\*`}, "ab", false},
	}
	for _, tt := range tests {
		p := gitops.Principal{Name: "t", Scopes: []gitops.Scope{gitops.ScopePipeline}, Groups: tt.groups}
		if got := p.MayWriteGroup(tt.group); got != tt.want {
			t.Errorf("groups %q: MayWriteGroup(%q) = %v, want %v", tt.groups, tt.group, got, tt.want)
		}
	}
}

func TestAuthorize(t *testing.T) {
	reader := &gitops.Principal{Name: "grafana", Scopes: []gitops.Scope{gitops.ScopeRead}}
	ci := &gitops.Principal{Name: "woodpecker", Scopes: []gitops.Scope{gitops.ScopePipeline, gitops.ScopeCron}}
	admin := &gitops.Principal{Name: "ops", Scopes: []gitops.Scope{gitops.ScopeAdmin}}
	const action = "POST /status/pipeline"
	tests := []struct {
		name      string
		p         *gitops.Principal
		need      gitops.Scope
		protected bool
		want      string // error code; "" = allowed
		wantMsg   string
	}{
		{"open route, no token", nil, "", true, "", ""},
		{"open route, any token", reader, "", true, "", ""},
		{"open reads, no token", nil, gitops.ScopeRead, false, "", ""},
		{"open reads, a write token", ci, gitops.ScopeRead, false, "", ""},
		{"protected reads, no token", nil, gitops.ScopeRead, true, gitops.EUNAUTHORIZED, "needs a bearer token with the read scope"},
		{"protected reads, read token", reader, gitops.ScopeRead, true, "", ""},
		{"protected reads, admin token", admin, gitops.ScopeRead, true, "", ""},
		{"protected reads, write token", ci, gitops.ScopeRead, true, gitops.EFORBIDDEN, `token "woodpecker" lacks the read scope`},
		{"write, no token", nil, gitops.ScopePipeline, false, gitops.EUNAUTHORIZED, `POST /status/pipeline needs a bearer token with the pipeline scope: send the header "Authorization: Bearer TOKEN"`},
		{"write, read token", reader, gitops.ScopePipeline, false, gitops.EFORBIDDEN,
			`token "grafana" lacks the pipeline scope needed for POST /status/pipeline; it has "read"`},
		{"write, pipeline token", ci, gitops.ScopePipeline, false, "", ""},
		{"write, admin token", admin, gitops.ScopePipeline, true, "", ""},
		{"delete, pipeline token", ci, gitops.ScopeAdmin, false, gitops.EFORBIDDEN, "lacks the admin scope"},
		{"delete, admin token", admin, gitops.ScopeAdmin, false, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := gitops.Authorize(tt.p, tt.need, tt.protected, action)
			if got := gitops.ErrorCode(err); got != tt.want {
				t.Fatalf("Authorize = %v; want code %q", err, tt.want)
			}
			if err != nil {
				mustContainAll(t, gitops.ErrorMessage(err), tt.wantMsg)
			}
		})
	}
}

func TestAuthorizeGroup(t *testing.T) {
	limited := &gitops.Principal{Name: "woodpecker", Scopes: []gitops.Scope{gitops.ScopePipeline}, Groups: []string{"rsyslog-*"}}
	if err := gitops.AuthorizeGroup(limited, "rsyslog-prod", "POST /status/pipeline"); err != nil {
		t.Fatalf("a group inside the token's globs: %v", err)
	}
	if err := gitops.AuthorizeGroup(nil, "nginx-prod", "POST /status/pipeline"); err != nil {
		t.Fatalf("no principal (auth off) must write any group: %v", err)
	}
	err := gitops.AuthorizeGroup(limited, "nginx-prod", "POST /status/pipeline")
	if gitops.ErrorCode(err) != gitops.EFORBIDDEN || gitops.ErrorField(err) != "server_group" {
		t.Fatalf("a group outside the globs: %v; want %s on server_group", err, gitops.EFORBIDDEN)
	}
	mustContainAll(t, gitops.ErrorMessage(err), `token "woodpecker" may not write server_group "nginx-prod"`, `"rsyslog-*"`)
}

func TestAttributeUpdate(t *testing.T) {
	p := &gitops.Principal{Name: "woodpecker", Scopes: []gitops.Scope{gitops.ScopePipeline}}
	tests := []struct {
		name string
		u    *gitops.PipelineUpdate
		p    *gitops.Principal
		want string
	}{
		{"body omits updated_by", &gitops.PipelineUpdate{Source: gitops.SourcePipeline}, p, "woodpecker"},
		{"body names someone", &gitops.PipelineUpdate{Source: gitops.SourcePipeline, UpdatedBy: "jenkins"}, p, "jenkins"},
		{"legacy write", &gitops.PipelineUpdate{Source: gitops.SourceLegacy, UpdatedBy: "legacy-api"}, p, "woodpecker"},
		{"auth off keeps legacy-api", &gitops.PipelineUpdate{Source: gitops.SourceLegacy, UpdatedBy: "legacy-api"}, nil, "legacy-api"},
		{"auth off keeps empty", &gitops.PipelineUpdate{Source: gitops.SourcePipeline}, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gitops.AttributeUpdate(tt.u, tt.p)
			if tt.u.UpdatedBy != tt.want {
				t.Fatalf("updated_by = %q, want %q", tt.u.UpdatedBy, tt.want)
			}
		})
	}
	// A cron update has no updated_by: nothing to attribute, nothing breaks.
	gitops.AttributeUpdate(&gitops.CronUpdate{}, p)
}
