package notify_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	gitops "github.com/gitops-status/gitops-status"
	"github.com/gitops-status/gitops-status/notify"
)

func TestParse(t *testing.T) {
	ws, err := notify.Parse([]byte(`
webhooks:
  - name: ops-chat
    url: "https://chat.example/hooks/abc"
    format: slack
    secret: "hmac-key"
    on: [out_of_sync, FAILED, validation_failed, synced, stale]
    server_groups: ["rsyslog-*"]
    remind_every: 4h
  - name: receiver
    url: http://127.0.0.1:9000/
    on: [failed]
`))
	if err != nil {
		t.Fatal(err)
	}
	if len(ws) != 2 || ws[0].Format != "slack" || ws[0].RemindEvery != 4*time.Hour || ws[0].Secret != "hmac-key" ||
		!slices.Equal(ws[0].On, gitops.Triggers) || ws[1].Format != "json" || ws[1].RemindEvery != 0 {
		t.Fatalf("parsed %+v", ws)
	}
}

func TestParseRefuses(t *testing.T) {
	entry := func(extra string) string {
		return "webhooks:\n  - name: a\n    url: https://x.example/h\n    on: [failed]\n" + extra
	}
	tests := []struct {
		name, doc, want string
	}{
		{"empty", "", "empty"},
		{"no webhooks", "webhooks: []", "no webhooks"},
		{"unknown key", entry("    secrett: x\n"), "secrett"},
		{"unknown top key", "hooks: []", "hooks"},
		{"no name", "webhooks:\n  - url: https://x.example/h\n    on: [failed]\n", "webhook 1: name is missing"},
		{"bad url", "webhooks:\n  - name: a\n    url: ftp://x\n    on: [failed]\n", `webhook 1 ("a"): url`},
		{"bad format", entry("    format: xml\n"), `format "xml" is not one of json, slack, teams`},
		{"no on", "webhooks:\n  - name: a\n    url: https://x.example/h\n", "on is missing"},
		{"bad on", "webhooks:\n  - name: a\n    url: https://x.example/h\n    on: [drift]\n", `"drift" is not one of`},
		{"bad glob", entry("    server_groups: [\"[\"]\n"), "not a glob"},
		{"bad remind", entry("    remind_every: soon\n"), "remind_every"},
		{"short remind", entry("    remind_every: 1s\n"), "at least 1m"},
		{"duplicate", entry("  - name: a\n    url: https://y.example/h\n    on: [failed]\n"), `webhook 2 ("a"): the name is used twice`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := notify.Parse([]byte(tt.doc))
			if err == nil {
				t.Fatalf("accepted:\n%s", tt.doc)
			}
			if msg := err.Error(); !strings.Contains(msg, tt.want) || strings.Contains(msg, "\n") {
				t.Fatalf("error %q: want one line containing %q", msg, tt.want)
			}
		})
	}
}

func TestParseNeverQuotesSecrets(t *testing.T) {
	_, err := notify.Parse([]byte("webhooks:\n  - name: a\n    url: https://x.example/h\n    secret: [topsecret]\n    on: [failed]\n"))
	if err == nil || strings.Contains(err.Error(), "topsecret") {
		t.Fatalf("error %v", err)
	}
}

func notice() *gitops.Notice {
	return &gitops.Notice{
		Event: gitops.Event{ID: 42, Time: gitops.Time{Time: time.Date(2026, 4, 26, 10, 30, 0, 0, time.UTC)},
			ServerGroup: "rsyslog-prod", Host: "rsyslog-01", Source: "cron", Status: "out_of_sync", PreviousStatus: "synced",
			CommitSHA: "abc1234", ValidationStatus: "passed", UpdatedBy: "woodpecker",
			ChangedFiles: []string{"a.conf", "b.conf", "c.conf", "d.conf", "e.conf", "f.conf", "<g>.conf"}, Changes: []gitops.Change{"status"}},
		Environment: "prod", ServerType: "rsyslog", StatusSince: gitops.Time{Time: time.Date(2026, 4, 26, 10, 30, 0, 0, time.UTC)},
	}
}

func TestRenderSlack(t *testing.T) {
	w := notify.Webhook{Name: "s", Format: notify.FormatSlack, On: gitops.Triggers}
	b, err := notify.Render(&w, notice(), "https://status.example.com/")
	if err != nil {
		t.Fatal(err)
	}
	var msg struct {
		Text   string `json:"text"`
		Blocks []struct {
			Type     string `json:"type"`
			Text     *struct{ Type, Text string }
			Fields   []struct{ Type, Text string }
			Elements []struct{ Type, URL string }
		} `json:"blocks"`
	}
	if err := json.Unmarshal(b, &msg); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"rsyslog-prod/rsyslog-01 is out_of_sync", "synced → out_of_sync since 2026-04-26T10:30:00Z",
		"Environment: prod", "Commit: abc1234", "By: woodpecker", "7 changed files: a.conf, b.conf, c.conf, d.conf, e.conf, …",
		"https://status.example.com/ui/rsyslog-prod/rsyslog-01"} {
		if !strings.Contains(msg.Text, want) {
			t.Errorf("fallback text lacks %q:\n%s", want, msg.Text)
		}
	}
	types := []string{}
	for _, bl := range msg.Blocks {
		types = append(types, bl.Type)
	}
	if !slices.Equal(types, []string{"header", "section", "section", "actions"}) {
		t.Fatalf("blocks %q", types)
	}
	if msg.Blocks[0].Text.Type != "plain_text" || len(msg.Blocks[1].Fields) == 0 || msg.Blocks[1].Fields[0].Type != "mrkdwn" {
		t.Errorf("header or fields malformed: %s", b)
	}
	if msg.Blocks[3].Elements[0].Type != "button" || msg.Blocks[3].Elements[0].URL != "https://status.example.com/ui/rsyslog-prod/rsyslog-01" {
		t.Errorf("button %+v", msg.Blocks[3].Elements)
	}
	if strings.Contains(string(b), "<g>") {
		t.Errorf("a file name's < > reached Slack's mrkdwn unescaped")
	}
}

func TestRenderTeams(t *testing.T) {
	w := notify.Webhook{Name: "t", Format: notify.FormatTeams, On: gitops.Triggers}
	b, err := notify.Render(&w, notice(), "")
	if err != nil {
		t.Fatal(err)
	}
	var msg struct {
		Type        string `json:"type"`
		Attachments []struct {
			ContentType string `json:"contentType"`
			Content     struct {
				Type    string `json:"type"`
				Version string `json:"version"`
				Body    []struct {
					Type  string `json:"type"`
					Text  string `json:"text"`
					Facts []struct{ Title, Value string }
				} `json:"body"`
				Actions []any `json:"actions"`
			} `json:"content"`
		} `json:"attachments"`
	}
	if err := json.Unmarshal(b, &msg); err != nil {
		t.Fatal(err)
	}
	if msg.Type != "message" || len(msg.Attachments) != 1 || msg.Attachments[0].ContentType != "application/vnd.microsoft.card.adaptive" {
		t.Fatalf("not a Workflows message with one Adaptive Card: %s", b)
	}
	c := msg.Attachments[0].Content
	if c.Type != "AdaptiveCard" || c.Body[0].Text != "rsyslog-prod/rsyslog-01 is out_of_sync" || c.Body[1].Type != "FactSet" {
		t.Fatalf("card %s", b)
	}
	if c.Actions != nil {
		t.Errorf("a link without --public-url: %v", c.Actions)
	}
}

func TestRenderTitles(t *testing.T) {
	on := gitops.Triggers
	tests := []struct {
		name string
		edit func(n *gitops.Notice)
		want string
	}{
		{"recovery", func(n *gitops.Notice) { n.Event.PreviousStatus, n.Event.Status = "failed", "synced" }, "rsyslog-prod/rsyslog-01 recovered: synced"},
		{"failed", func(n *gitops.Notice) { n.Event.Status = "failed" }, "rsyslog-prod/rsyslog-01 is failed"},
		{"validation", func(n *gitops.Notice) {
			n.Event.Status, n.Event.PreviousStatus, n.Event.ValidationStatus = "synced", "synced", "failed"
			n.Event.Changes = []gitops.Change{"validation_status"}
		}, "rsyslog-prod/rsyslog-01 failed validation"},
		{"stale", func(n *gitops.Notice) {
			n.Event.Source, n.Event.PreviousStatus, n.Event.Changes = "sweep", "out_of_sync", []gitops.Change{"stale"}
		}, "rsyslog-prod/rsyslog-01 is stale"},
		{"fresh", func(n *gitops.Notice) {
			n.Event.Source, n.Event.PreviousStatus, n.Event.Changes = "sweep", "out_of_sync", []gitops.Change{"fresh"}
		}, "rsyslog-prod/rsyslog-01 reports again"},
		{"reminder", func(n *gitops.Notice) { n.Reminder = true }, "rsyslog-prod/rsyslog-01 is still out_of_sync"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := notice()
			tt.edit(n)
			b, err := notify.Render(&notify.Webhook{Format: notify.FormatJSON, On: on}, n, "")
			if err != nil {
				t.Fatal(err)
			}
			var rec map[string]any
			if err := json.Unmarshal(b, &rec); err != nil {
				t.Fatal(err)
			}
			if text, _ := rec["text"].(string); !strings.HasPrefix(text, tt.want) {
				t.Fatalf("text %q, want it to start with %q", text, tt.want)
			}
			for _, k := range []string{"id", "time", "server_group", "host", "source", "status", "previous_status", "commit_sha",
				"validation_status", "changed_files", "updated_by", "changes"} {
				if _, ok := rec[k]; !ok {
					t.Errorf("the json format lacks the event field %q", k)
				}
			}
		})
	}
}
