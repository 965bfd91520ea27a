package notify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"

	gitops "github.com/gitops-status/gitops-status"
)

// maxFilesShown is how many changed files a message names; the count
// says how many there are.
const maxFilesShown = 5

// message is what a person reads about one delivery, whatever the format.
type message struct {
	n       *gitops.Notice
	trigger gitops.Trigger
	title   string
	facts   [][2]string // name, value
	files   []string    // the first maxFilesShown
	nfiles  int
	link    string // "" without --public-url
}

// newMessage builds the message of n for a webhook that wants on.
func newMessage(n *gitops.Notice, on []gitops.Trigger, publicURL string) *message {
	ev := &n.Event
	m := &message{n: n, trigger: triggerFor(ev, on)}
	server := ev.ServerGroup + "/" + ev.Host
	switch {
	case n.Reminder:
		m.title = fmt.Sprintf("%s is still %s", server, ev.Status)
	case m.trigger == gitops.TriggerStale && slices.Contains(ev.Changes, gitops.ChangeFresh):
		m.title = fmt.Sprintf("%s reports again (no longer stale)", server)
	case m.trigger == gitops.TriggerStale:
		m.title = fmt.Sprintf("%s is stale: no report within its threshold", server)
	case m.trigger == gitops.TriggerSynced:
		m.title = fmt.Sprintf("%s recovered: synced", server)
	case m.trigger == gitops.TriggerValidationFailed:
		m.title = fmt.Sprintf("%s failed validation", server)
	default:
		m.title = fmt.Sprintf("%s is %s", server, ev.Status)
	}
	status := string(ev.Status)
	if ev.PreviousStatus != "" && ev.PreviousStatus != ev.Status {
		status = string(ev.PreviousStatus) + " → " + string(ev.Status)
	}
	if !n.StatusSince.IsZero() {
		status += " since " + gitops.FormatTime(n.StatusSince.Time)
	}
	m.facts = append(m.facts, [2]string{"Server", server}, [2]string{"Status", status})
	if n.Environment != "" {
		m.facts = append(m.facts, [2]string{"Environment", n.Environment})
	}
	if ev.ValidationStatus != "" && ev.ValidationStatus != gitops.ValidationUnknown {
		m.facts = append(m.facts, [2]string{"Validation", string(ev.ValidationStatus)})
	}
	if ev.CommitSHA != "" {
		m.facts = append(m.facts, [2]string{"Commit", ev.CommitSHA})
	}
	if ev.UpdatedBy != "" {
		m.facts = append(m.facts, [2]string{"By", ev.UpdatedBy})
	}
	m.facts = append(m.facts, [2]string{"At", gitops.FormatTime(ev.Time.Time)})
	m.nfiles = len(ev.ChangedFiles)
	m.files = ev.ChangedFiles[:min(len(ev.ChangedFiles), maxFilesShown)]
	if publicURL != "" {
		m.link = strings.TrimRight(publicURL, "/") + "/ui/" + url.PathEscape(ev.ServerGroup) + "/" + url.PathEscape(ev.Host)
	}
	return m
}

// triggerFor is the transition a message is about: the first of the
// event's that the webhook wants (an event can be both failed and
// validation_failed).
func triggerFor(ev *gitops.Event, on []gitops.Trigger) gitops.Trigger {
	ts := gitops.TriggersOf(ev)
	for _, t := range ts {
		if slices.Contains(on, t) {
			return t
		}
	}
	if len(ts) > 0 {
		return ts[0]
	}
	if ev.Status == gitops.StatusFailed {
		return gitops.TriggerFailed
	}
	return gitops.TriggerOutOfSync // a reminder
}

// filesLine is "12 changed files: a, b, c, d, e, …".
func (m *message) filesLine() string {
	if m.nfiles == 0 {
		return ""
	}
	s := fmt.Sprintf("%d changed file", m.nfiles)
	if m.nfiles != 1 {
		s += "s"
	}
	s += ": " + strings.Join(m.files, ", ")
	if m.nfiles > len(m.files) {
		s += ", …"
	}
	return s
}

// text is the whole message as plain text, for Slack's fallback and the
// JSON format's "text".
func (m *message) text() string {
	lines := []string{m.title}
	for _, f := range m.facts[1:] {
		lines = append(lines, f[0]+": "+f[1])
	}
	if fl := m.filesLine(); fl != "" {
		lines = append(lines, fl)
	}
	if m.link != "" {
		lines = append(lines, m.link)
	}
	return strings.Join(lines, "\n")
}

// Render returns the body of a delivery of n to w.
func Render(w *Webhook, n *gitops.Notice, publicURL string) ([]byte, error) {
	m := newMessage(n, w.On, publicURL)
	switch w.Format {
	case FormatSlack:
		return json.Marshal(m.slack())
	case FormatTeams:
		return json.Marshal(m.teams())
	}
	return json.Marshal(m.record())
}

// jsonBody is the json format: the event record as GET /events answers
// it, with what a receiver needs beside it.
type jsonBody struct {
	gitops.Event
	Trigger     gitops.Trigger `json:"trigger"`
	Reminder    bool           `json:"reminder"`
	Environment string         `json:"environment"`
	ServerType  string         `json:"server_type"`
	StatusSince gitops.Time    `json:"status_since"`
	URL         string         `json:"url"`
	Text        string         `json:"text"`
}

func (m *message) record() jsonBody {
	ev := m.n.Event
	if ev.ChangedFiles == nil {
		ev.ChangedFiles = []string{}
	}
	if ev.Changes == nil {
		ev.Changes = []gitops.Change{}
	}
	return jsonBody{Event: ev, Trigger: m.trigger, Reminder: m.n.Reminder, Environment: m.n.Environment,
		ServerType: m.n.ServerType, StatusSince: m.n.StatusSince, URL: m.link, Text: m.text()}
}

// slack is an incoming-webhook message: Block Kit blocks, with text as
// the fallback notifications show.
func (m *message) slack() map[string]any {
	fields := []map[string]any{}
	for _, f := range m.facts[1:] {
		fields = append(fields, map[string]any{"type": "mrkdwn", "text": "*" + f[0] + "*\n" + slackEscape(f[1])})
	}
	blocks := []map[string]any{
		{"type": "header", "text": map[string]any{"type": "plain_text", "text": cut(m.title, 150)}},
		{"type": "section", "fields": fields[:min(len(fields), 10)]},
	}
	if m.nfiles > 0 {
		var b strings.Builder
		fmt.Fprintf(&b, "*%d changed file", m.nfiles)
		if m.nfiles != 1 {
			b.WriteString("s")
		}
		b.WriteString("*")
		for _, f := range m.files {
			b.WriteString("\n• " + slackEscape(f))
		}
		if m.nfiles > len(m.files) {
			b.WriteString("\n…")
		}
		blocks = append(blocks, map[string]any{"type": "section", "text": map[string]any{"type": "mrkdwn", "text": cut(b.String(), 3000)}})
	}
	if m.link != "" {
		blocks = append(blocks, map[string]any{"type": "actions", "elements": []map[string]any{{
			"type": "button", "text": map[string]any{"type": "plain_text", "text": "Open in gitops-status"}, "url": m.link,
		}}})
	}
	return map[string]any{"text": m.text(), "blocks": blocks}
}

// slackEscape escapes what Slack's mrkdwn reads as markup.
func slackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// teams is a message for a Teams Workflows ("Post to a channel when a
// webhook request is received") webhook: an Adaptive Card attachment.
func (m *message) teams() map[string]any {
	facts := []map[string]any{}
	for _, f := range m.facts[1:] {
		facts = append(facts, map[string]any{"title": f[0], "value": f[1]})
	}
	body := []map[string]any{
		{"type": "TextBlock", "text": m.title, "weight": "Bolder", "size": "Medium", "wrap": true},
		{"type": "FactSet", "facts": facts},
	}
	if fl := m.filesLine(); fl != "" {
		body = append(body, map[string]any{"type": "TextBlock", "text": fl, "wrap": true})
	}
	card := map[string]any{
		"$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
		"type":    "AdaptiveCard",
		"version": "1.4",
		"body":    body,
	}
	if m.link != "" {
		card["actions"] = []map[string]any{{"type": "Action.OpenUrl", "title": "Open in gitops-status", "url": m.link}}
	}
	return map[string]any{
		"type": "message",
		"attachments": []map[string]any{{
			"contentType": "application/vnd.microsoft.card.adaptive",
			"contentUrl":  nil,
			"content":     card,
		}},
	}
}

func cut(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// SignatureHeader carries the HMAC of a signed body.
const SignatureHeader = "X-GitOps-Status-Signature"

// Sign returns the SignatureHeader value of body under secret:
// "sha256=" and the lower-case hex HMAC-SHA256 of the exact body.
func Sign(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// Verify reports whether sig, a SignatureHeader value, signs body under
// secret, comparing in constant time: what a receiver in Go does.
func Verify(secret string, body []byte, sig string) bool {
	return hmac.Equal([]byte(Sign(secret, body)), []byte(sig))
}
