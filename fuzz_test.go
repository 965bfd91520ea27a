package gitops_test

import (
	"encoding/json"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	gitops "github.com/gitops-status/gitops-status"
)

// identifierRE is SPEC §2's identifier rule, written independently of
// ValidateIdentifier so the fuzzer can compare the two.
var identifierRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$`)

// addBodies seeds f with the seed's payloads, the testdata files and the
// bodies the table tests use.
func addBodies(f *testing.F, extra ...string) {
	for _, b := range []string{seedPipelineBody, seedCronBody, seedV1Body, `{}`, `[]`, `null`, ``, `{"a":1} {}`} {
		f.Add([]byte(b))
	}
	for _, name := range []string{"v1-status.json", "v2-status.json", "v2-status-isoformat.json"} {
		f.Add(readTestdata(f, name))
	}
	for _, tt := range bodyErrorCases {
		f.Add([]byte(tt.body))
	}
	for _, b := range extra {
		f.Add([]byte(b))
	}
}

// checkDecodeError: every refusal of a decoder is a 400 with a sentence.
func checkDecodeError(t *testing.T, err error) {
	t.Helper()
	if gitops.ErrorCode(err) != gitops.EINVALID || gitops.ErrorMessage(err) == "" {
		t.Fatalf("error %v: code %q, want %q with a message", err, gitops.ErrorCode(err), gitops.EINVALID)
	}
}

func checkKeyAndStatus(t *testing.T, k gitops.Key, st gitops.Status) {
	t.Helper()
	if !identifierRE.MatchString(k.ServerGroup) || !identifierRE.MatchString(k.Host) {
		t.Fatalf("accepted invalid key %q", k)
	}
	if !slices.Contains(gitops.Statuses, st) {
		t.Fatalf("accepted status %q", st)
	}
}

func checkReportedAt(t *testing.T, rt time.Time) {
	t.Helper()
	if rt.IsZero() {
		return
	}
	if rt.Location() != time.UTC || rt.Nanosecond()%1000 != 0 {
		t.Fatalf("reported_at %v is not UTC microseconds", rt)
	}
	if rt.Sub(opts.Now) > opts.MaxClockSkew {
		t.Fatalf("reported_at %v accepted beyond the max clock skew", rt)
	}
}

// checkRecord applies to a record and marshals it, as the HTTP answer does.
func checkRecord(t *testing.T, s gitops.Server) {
	t.Helper()
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatalf("marshal record: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("record is not JSON: %v\n%s", err, b)
	}
	if _, ok := m["changed_files"].([]any); !ok {
		t.Fatalf("changed_files = %v, want a list", m["changed_files"])
	}
	if _, ok := m["labels"].(map[string]any); !ok {
		t.Fatalf("labels = %v, want an object", m["labels"])
	}
}

func FuzzParsePipelineUpdate(f *testing.F) {
	addBodies(f,
		`{"server_group":"g","host":"h","status":"SYNCED","validation_status":"Passed","changed_files":["/a",""],"labels":{"k":"v"},"stale_after":"1h30m","reported_at":"2026-04-26T12:04:59.999999999+00:00"}`,
		`{"server_group":"g","host":"h","status":"failed","last_pipeline_run":"2026-04-26 15:00:00+03:00","timestamp":null,"extra":[1,{"x":null}]}`,
		`{"server_group":"g","host":"h","status":"synced","stale_after":"-0s","labels":{"":""}}`,
	)
	f.Fuzz(func(t *testing.T, body []byte) {
		u, warnings, err := gitops.ParsePipelineUpdate(body, opts)
		if err != nil {
			checkDecodeError(t, err)
			if u != nil || warnings != nil {
				t.Fatalf("refused body returned an update or warnings")
			}
			return
		}
		checkKeyAndStatus(t, u.Key(), u.Status)
		if !slices.Contains(gitops.ValidationStatuses, u.ValidationStatus) {
			t.Fatalf("accepted validation_status %q", u.ValidationStatus)
		}
		if u.Source != gitops.SourcePipeline || u.ChangedFiles == nil || u.Labels == nil {
			t.Fatalf("source %q files %#v labels %#v", u.Source, u.ChangedFiles, u.Labels)
		}
		if u.StaleAfter != "" {
			if d, err := time.ParseDuration(u.StaleAfter); err != nil || d < 0 {
				t.Fatalf("accepted stale_after %q", u.StaleAfter)
			}
		}
		checkReportedAt(t, u.ReportedAt)
		out := u.Apply(nil, t0)
		checkRecord(t, out.Server)
		again := u.Apply(&out.Server, t0.Add(time.Second))
		if !again.Applied || again.Event != nil {
			t.Fatalf("the same report again: applied %v event %+v, want applied without event", again.Applied, again.Event)
		}
	})
}

func FuzzParseCronUpdate(f *testing.F) {
	addBodies(f,
		`{"server_group":"g","host":"h","status":"Out_Of_Sync","changed_files":["/b","/a","/a"],"stale_after":"","reported_at":"2026-04-26T11:00:00"}`,
		`{"server_group":"g","host":"h","status":"synced","last_cron_check":"2026-04-26T12:00:00Z","commit_sha":"x","labels":null}`,
	)
	f.Fuzz(func(t *testing.T, body []byte) {
		u, warnings, err := gitops.ParseCronUpdate(body, opts)
		if err != nil {
			checkDecodeError(t, err)
			if u != nil || warnings != nil {
				t.Fatalf("refused body returned an update or warnings")
			}
			return
		}
		checkKeyAndStatus(t, u.Key(), u.Status)
		if u.ChangedFiles == nil {
			t.Fatalf("changed_files nil")
		}
		if u.StaleAfter != nil && *u.StaleAfter != "" {
			if d, err := time.ParseDuration(*u.StaleAfter); err != nil || d < 0 {
				t.Fatalf("accepted stale_after %q", *u.StaleAfter)
			}
		}
		checkReportedAt(t, u.ReportedAt)
		out := u.Apply(nil, t0)
		checkRecord(t, out.Server)
		// A cron never erases what a pipeline wrote.
		cur := existing()
		u.ServerGroup, u.Host = cur.ServerGroup, cur.Host
		next := u.Apply(&cur, t0)
		if next.Applied {
			s := next.Server
			if s.CommitSHA != cur.CommitSHA || s.ValidationStatus != cur.ValidationStatus || s.UpdatedBy != cur.UpdatedBy ||
				!reflect.DeepEqual(s.Labels, cur.Labels) || s.PipelineStatus != cur.PipelineStatus || !s.LastPipelineRun.Equal(cur.LastPipelineRun) ||
				s.ProjectName != cur.ProjectName || s.ServerType != cur.ServerType {
				t.Fatalf("cron changed pipeline fields:%s", diffServers(s, cur))
			}
		}
	})
}

func FuzzParseLegacyUpdate(f *testing.F) {
	addBodies(f,
		`{"repo":"rsyslog","server":"lab","sync_status":"drift","drift_count":1e400,"deployed_files":["/a"],"drifted_files":["/b"],"last_check":"2026-04-26T10:00:00.123456"}`,
		`{"server":"lab","sync_status":"Failed"}`,
	)
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, group := range []string{"", "legacy"} {
			p := opts
			p.LegacyGroup = group
			u, _, err := gitops.ParseLegacyUpdate(body, p)
			if err != nil {
				checkDecodeError(t, err)
				continue
			}
			checkKeyAndStatus(t, u.Key(), u.Status)
			if group != "" && u.ServerGroup != group {
				t.Fatalf("server_group = %q, want the legacy group %q", u.ServerGroup, group)
			}
			if u.Source != gitops.SourceLegacy || u.UpdatedBy != "legacy-api" || u.ValidationStatus != gitops.ValidationUnknown || u.ServerType != u.RepoName {
				t.Fatalf("legacy conversion: %+v", u)
			}
			checkReportedAt(t, u.LastCheck)
			s := u.Apply(nil, t0).Server
			checkRecord(t, s)
			if s.LastSource != gitops.SourceLegacy {
				t.Fatalf("last_source = %q", s.LastSource)
			}
			v1, err := json.Marshal(gitops.V1View(&s))
			if err != nil {
				t.Fatalf("marshal v1 view: %v", err)
			}
			if _, _, err := gitops.ParseLegacyUpdate(v1, p); err != nil {
				t.Fatalf("the v1 view %s is refused as a v1 update: %v", v1, err)
			}
		}
	})
}

func FuzzParseDocument(f *testing.F) {
	addBodies(f,
		`{"version":"2.0","servers":{"g/h":{"status":"SYNCED","last_source":"Cron","stale_after":"0","labels":{"a":"b"},"pipeline_reported_at":"2026-04-26T10:00:00+05:00"}}}`,
		`{"version":"2.0","servers":{"g/h1":{"host":"h"},"g/h":{},"bad/":{},"/x":{}}}`,
		`{"version":"2.0","servers":{"g/h":{"timestamp":"9999-12-31T23:59:59-01:00"}}}`,
		`{"repo":"r","server":"s","sync_status":"drifted","last_check":"0001-01-01T00:00:00Z"}`,
	)
	p := gitops.ParseOptions{Now: t0}
	f.Fuzz(func(t *testing.T, data []byte) {
		doc, err := gitops.ParseDocument(data, p)
		if err != nil {
			checkDecodeError(t, err)
			return
		}
		seen := map[gitops.Key]bool{}
		for _, s := range doc.Servers {
			checkKeyAndStatus(t, s.Key(), s.Status)
			if seen[s.Key()] {
				t.Fatalf("%s imported twice", s.Key())
			}
			seen[s.Key()] = true
			if !s.Imported || s.Timestamp.IsZero() || s.StatusSince.IsZero() {
				t.Fatalf("imported %v timestamp %v status_since %v", s.Imported, s.Timestamp, s.StatusSince)
			}
			checkRecord(t, s)
		}
		// Property: export then re-import is the same store.
		exported := gitops.ExportDocument(doc.Servers, doc.Heads)
		back, err := gitops.ParseDocument(exported, gitops.ParseOptions{Now: t0.Add(time.Hour)})
		if err != nil {
			t.Fatalf("re-import of the export: %v\n%s", err, exported)
		}
		if len(back.Skipped) != 0 || len(back.Servers) != len(doc.Servers) {
			t.Fatalf("re-import: %d servers, skipped %q; want %d\n%s", len(back.Servers), back.Skipped, len(doc.Servers), exported)
		}
		got := map[gitops.Key]gitops.Server{}
		for _, s := range back.Servers {
			got[s.Key()] = s
		}
		for _, want := range doc.Servers {
			if d := diffServers(got[want.Key()], want); d != "" {
				t.Fatalf("%s differs after export and re-import:%s", want.Key(), d)
			}
		}
	})
}

func FuzzValidateIdentifier(f *testing.F) {
	for _, s := range []string{"rsyslog-prod", "rsyslog-01", "a", "..", ".", "-x", "_x", "a/b", "bad group", "hôst", "", "a\x00", "A.b_c-D"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		err := gitops.ValidateIdentifier("host", s)
		if ok := identifierRE.MatchString(s); ok != (err == nil) {
			t.Fatalf("ValidateIdentifier(%q) = %v, but the SPEC rule says valid=%v", s, err, ok)
		}
		if err != nil {
			if gitops.ErrorCode(err) != gitops.EINVALID || gitops.ErrorField(err) != "host" {
				t.Fatalf("error %v: code %q field %q", err, gitops.ErrorCode(err), gitops.ErrorField(err))
			}
		}
	})
}

func FuzzParseTime(f *testing.F) {
	for _, s := range []string{
		"2026-04-26T10:30:00Z", "2026-04-26T10:30:00+00:00", "2026-04-26T13:30:00+03:00",
		"2026-04-26T10:30:00.123456+00:00", "2026-04-26T10:30:00.123456", "2026-04-26 10:30:00",
		"2026-04-26T10:30", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59.999999999Z", "9999-12-31T23:30:00-01:00",
		"0000-01-01T00:00:00Z", "2026-04-26T10:30:00,5Z", "garbage", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tm, err := gitops.ParseTime(s)
		if err != nil {
			return
		}
		if tm.Location() != time.UTC {
			t.Fatalf("ParseTime(%q) location = %v, want UTC", s, tm.Location())
		}
		// What we write, we read back.
		b, err := json.Marshal(gitops.Time{Time: tm})
		if err != nil {
			t.Fatalf("marshal %v: %v", tm, err)
		}
		var back gitops.Time
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("ParseTime(%q) = %v, written as %s, which does not read back: %v", s, tm, b, err)
		}
		if !back.Equal(tm) {
			t.Fatalf("ParseTime(%q) = %v, written as %s, read back as %v", s, tm, b, back.Time)
		}
	})
}

// FuzzAuthorize checks the authorization decision against SPEC §6/§8,
// written here as an independent rule: open routes and open reads need
// nothing; otherwise no token is 401, a token without the scope (admin
// counts as every scope) is 403; a token's groups limit the groups it
// writes, and a valid token never writes outside them.
func FuzzAuthorize(f *testing.F) {
	f.Add(uint8(0b0010), "rsyslog-*", uint8(2), false, true, "rsyslog-prod")
	f.Add(uint8(0b0001), "", uint8(1), true, true, "g")
	f.Add(uint8(0b1000), "nginx-[ab],splunk-?", uint8(4), false, true, "nginx-c")
	f.Add(uint8(0), "", uint8(1), true, false, "g")
	f.Add(uint8(0b0100), "[", uint8(3), false, true, "x")
	f.Add(uint8(0b0110), `a\*`, uint8(2), false, true, "a*")
	f.Fuzz(func(t *testing.T, mask uint8, groups string, needIdx uint8, protected, hasToken bool, group string) {
		var scopes []gitops.Scope
		for i, sc := range gitops.Scopes {
			if mask&(1<<i) != 0 {
				scopes = append(scopes, sc)
			}
		}
		var globs []string
		if groups != "" {
			globs = strings.Split(groups, ",")
		}
		needs := append([]gitops.Scope{""}, gitops.Scopes...)
		need := needs[int(needIdx)%len(needs)]
		p := &gitops.Principal{Name: "fuzz", Scopes: scopes, Groups: globs}
		valid := p.Validate() == nil
		if !valid {
			return // a tokens file with this entry refuses to load
		}
		var who *gitops.Principal
		if hasToken {
			who = p
		}

		err := gitops.Authorize(who, need, protected, "POST /x")
		open := need == "" || (need == gitops.ScopeRead && !protected)
		has := slices.Contains(scopes, need) || slices.Contains(scopes, gitops.ScopeAdmin)
		var want string
		switch {
		case open:
		case !hasToken:
			want = gitops.EUNAUTHORIZED
		case !has:
			want = gitops.EFORBIDDEN
		}
		if got := gitops.ErrorCode(err); got != want {
			t.Fatalf("Authorize(scopes %q, need %q, protected %v, token %v) = %v; want code %q", scopes, need, protected, hasToken, err, want)
		}
		if err != nil && gitops.ErrorMessage(err) == "" {
			t.Fatal("a refusal without a sentence")
		}

		gerr := gitops.AuthorizeGroup(p, group, "POST /x")
		if gerr != nil && (gitops.ErrorCode(gerr) != gitops.EFORBIDDEN || gitops.ErrorField(gerr) != "server_group") {
			t.Fatalf("AuthorizeGroup error %v: want %s on server_group", gerr, gitops.EFORBIDDEN)
		}
		// What the group rule must say, whatever the matcher: no globs is
		// every group; a glob without metacharacters is the group itself.
		if len(globs) == 0 && gerr != nil {
			t.Fatalf("a token without groups may not write %q: %v", group, gerr)
		}
		literal := slices.ContainsFunc(globs, func(g string) bool { return !strings.ContainsAny(g, `*?[\`) && g == group })
		if literal && gerr != nil {
			t.Fatalf("groups %q name %q literally, yet it is refused: %v", globs, group, gerr)
		}
		if len(globs) > 0 && !slices.ContainsFunc(globs, func(g string) bool { return strings.ContainsAny(g, `*?[\`) || g == group }) && gerr == nil {
			t.Fatalf("groups %q neither match %q literally nor hold a wildcard, yet it may write it", globs, group)
		}
	})
}
