package ansiblejson

import (
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

// The testdata files are real output of ansible-playbook 2.14 (Debian 12's
// ansible), with the temporary directory they ran in replaced by /srv:
//
//	drift.json       ANSIBLE_STDOUT_CALLBACK=ansible.posix.json, --check --diff, four hosts:
//	                 web-01 drifted (a file edited, one removed; a failure ignored),
//	                 web-02 always changes (a command with changed_when, copy and
//	                 lineinfile fighting over one file), web-03 failed, web-04 unreachable
//	clean.json       the same callback, nothing to change on two hosts
//	json-alias.json  ANSIBLE_STDOUT_CALLBACK=json, the short name, for web-02
func parseFile(t *testing.T, name string) *Run {
	t.Helper()
	f, err := os.Open("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	run, err := Parse(f)
	if err != nil {
		t.Fatalf("Parse(%s): %v", name, err)
	}
	return run
}

func TestParse_drift(t *testing.T) {
	run := parseFile(t, "drift.json")
	if want := time.Date(2026, 12, 6, 14, 18, 9, 126114000, time.UTC); !run.Started.Equal(want) {
		t.Fatalf("Started = %s, want %s", run.Started, want)
	}
	want := []Host{
		{Name: "web-01", Changed: []string{"/srv/web-01/etc/main.conf", "/srv/web-01/etc/app.d/20-b.conf"}},
		{Name: "web-02", Changed: []string{"/srv/web-02/etc/main.conf", "task: Install the package"}},
		{Name: "web-03", Failed: true, Failure: "Web-03 breaks: non-zero return code", Changed: []string{"/srv/web-03/etc/main.conf"}},
		{Name: "web-04", Failed: true, Unreachable: true,
			Failure: "Create the config directory: Failed to connect to the host via ssh: ssh: connect to host 127.0.0.1 port 1: Connection refused"},
	}
	if !reflect.DeepEqual(run.Hosts, want) {
		t.Fatalf("hosts:\n got %#v\nwant %#v", run.Hosts, want)
	}
}

func TestParse_clean(t *testing.T) {
	run := parseFile(t, "clean.json")
	want := []Host{{Name: "web-01"}, {Name: "web-02"}}
	if !reflect.DeepEqual(run.Hosts, want) {
		t.Fatalf("hosts = %#v, want %#v", run.Hosts, want)
	}
}

func TestParse_jsonAlias(t *testing.T) {
	run := parseFile(t, "json-alias.json")
	if len(run.Hosts) != 1 || run.Hosts[0].Name != "web-02" || len(run.Hosts[0].Changed) != 2 {
		t.Fatalf("hosts = %#v", run.Hosts)
	}
}

func TestParse_refuses(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", "ANSIBLE_STDOUT_CALLBACK=ansible.posix.json"},
		{"the default callback", "\nPLAY [web] ****\n\nTASK [x] ***\nok: [web-01]\n", "ANSIBLE_STDOUT_CALLBACK=ansible.posix.json"},
		{"another JSON object", `{"servers": {}}`, "ANSIBLE_STDOUT_CALLBACK=ansible.posix.json"},
		{"cut short", `{"plays": [{"tasks": [`, "reading ansible-playbook's JSON output"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(strings.NewReader(tt.in))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Parse = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestParse_skipsLinesBeforeTheDocument(t *testing.T) {
	in := "[DEPRECATION WARNING]: something\n" + `{"plays": [], "stats": {"h1": {"failures": 0}}}`
	run, err := Parse(strings.NewReader(in))
	if err != nil || len(run.Hosts) != 1 || run.Hosts[0].Name != "h1" {
		t.Fatalf("Parse = %v, %#v", err, run)
	}
}

func TestResultFile(t *testing.T) {
	tests := []struct {
		name string
		r    string
		want string
	}{
		{"dest reported", `{"dest": "/etc/a", "path": "/etc/b"}`, "/etc/a"},
		{"path reported", `{"path": "/etc/b"}`, "/etc/b"},
		{"dest given", `{"invocation": {"module_args": {"dest": "/etc/c"}}}`, "/etc/c"},
		{"path given", `{"invocation": {"module_args": {"path": "/etc/d", "line": "x"}}}`, "/etc/d"},
		{"diff header", `{"diff": [{"before_header": "/etc/e", "after_header": "/tmp/src"}]}`, "/etc/e"},
		{"lineinfile header", `{"diff": {"before_header": "/etc/f (content)"}}`, "/etc/f"},
		{"new file, no header", `{"diff": [{"before": "", "after_header": "/tmp/src"}]}`, ""},
		{"nothing", `{"msg": "restarted"}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			run, err := Parse(strings.NewReader(`{"plays": [{"tasks": [{"task": {"name": "t"}, "hosts": {"h": ` +
				strings.Replace(tt.r, "{", `{"changed": true, `, 1) + `}}]}], "stats": {}}`))
			if err != nil {
				t.Fatal(err)
			}
			want := tt.want
			if want == "" {
				want = "task: t"
			}
			if got := run.Hosts[0].Changed; len(got) != 1 || got[0] != want {
				t.Fatalf("changed = %q, want [%q]", got, want)
			}
		})
	}
}
