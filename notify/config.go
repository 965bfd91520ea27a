// Package notify pushes servers' transitions to webhooks (SPEC §9): it
// reads the webhooks file, decides which webhook wants which event,
// renders the JSON, Slack and Teams payloads, signs them, and delivers
// what the store's outbox holds, with retries, reminders and the stale
// sweep. It reads and writes the outbox only through gitops.Outbox; the
// stores write the outbox entries in the transactions of their events.
package notify

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path"
	"slices"
	"strings"
	"time"

	gitops "github.com/gitops-status/gitops-status"
	"go.yaml.in/yaml/v3"
)

// Formats of a webhook's payload.
const (
	FormatJSON  = "json"
	FormatSlack = "slack"
	FormatTeams = "teams"
)

// Webhook is one entry of the webhooks file.
type Webhook struct {
	Name   string
	URL    string
	Format string
	// Secret, when set, signs every body (X-GitOps-Status-Signature).
	Secret string
	// On lists the transitions sent; never empty.
	On []gitops.Trigger
	// ServerGroups are globs (path.Match) of the groups sent; none = all.
	ServerGroups []string
	// RemindEvery repeats the news while a server stays out_of_sync or
	// failed; 0 = never.
	RemindEvery time.Duration
}

// Wants reports whether w is sent the notice n.
func (w *Webhook) Wants(n *gitops.Notice) bool {
	if !w.groupMatches(n.Event.ServerGroup) {
		return false
	}
	for _, t := range gitops.TriggersOf(&n.Event) {
		if slices.Contains(w.On, t) {
			return true
		}
	}
	return false
}

func (w *Webhook) groupMatches(group string) bool {
	if len(w.ServerGroups) == 0 {
		return true
	}
	for _, g := range w.ServerGroups {
		if ok, _ := path.Match(g, group); ok {
			return true
		}
	}
	return false
}

// remindsOf reports whether w reminds of a server in status st.
func (w *Webhook) remindsOf(st gitops.Status) bool {
	if w.RemindEvery <= 0 {
		return false
	}
	switch st {
	case gitops.StatusOutOfSync:
		return slices.Contains(w.On, gitops.TriggerOutOfSync)
	case gitops.StatusFailed:
		return slices.Contains(w.On, gitops.TriggerFailed)
	}
	return false
}

// fileEntry is a webhook as the file spells it.
type fileEntry struct {
	Name         string   `yaml:"name"`
	URL          string   `yaml:"url"`
	Format       string   `yaml:"format"`
	Secret       string   `yaml:"secret"`
	On           []string `yaml:"on"`
	ServerGroups []string `yaml:"server_groups"`
	RemindEvery  string   `yaml:"remind_every"`
}

type fileDoc struct {
	Webhooks []fileEntry `yaml:"webhooks"`
}

// maxFileBytes bounds a webhooks file: a few dozen webhooks fit in far less.
const maxFileBytes = 1 << 20

// Load reads the webhooks file at name. The error is one line that names
// the file and the entry at fault, and never quotes a secret.
func Load(name string) ([]Webhook, error) {
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("cannot read the webhooks file: %v", err)
	}
	ws, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("webhooks file %s: %v", name, err)
	}
	return ws, nil
}

// Parse reads a webhooks document (YAML as in SPEC §9; JSON is YAML too).
// Unknown keys are refused, so a misspelt filter never widens what is sent.
func Parse(data []byte) ([]Webhook, error) {
	if len(data) > maxFileBytes {
		return nil, fmt.Errorf("larger than %d bytes", maxFileBytes)
	}
	var doc fileDoc
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New(`empty; it needs a "webhooks:" list`)
		}
		return nil, fmt.Errorf("%s (keys of an entry: name, url, format, secret, on, server_groups, remind_every)", oneLine(err))
	}
	if len(doc.Webhooks) == 0 {
		return nil, errors.New(`no webhooks: list at least one under "webhooks:"`)
	}
	seen := map[string]bool{}
	out := make([]Webhook, 0, len(doc.Webhooks))
	for i, e := range doc.Webhooks {
		where := fmt.Sprintf("webhook %d", i+1)
		if e.Name != "" {
			where = fmt.Sprintf("webhook %d (%q)", i+1, e.Name)
		}
		w, err := e.webhook()
		if err != nil {
			return nil, fmt.Errorf("%s: %v", where, err)
		}
		if seen[w.Name] {
			return nil, fmt.Errorf("%s: the name is used twice; every webhook needs its own name (deliveries are kept by name)", where)
		}
		seen[w.Name] = true
		out = append(out, w)
	}
	return out, nil
}

func (e fileEntry) webhook() (Webhook, error) {
	w := Webhook{Name: e.Name, URL: e.URL, Format: strings.ToLower(e.Format), Secret: e.Secret, ServerGroups: e.ServerGroups}
	if w.Name == "" {
		return w, errors.New("name is missing; every webhook needs one")
	}
	if len(w.Name) > 100 || strings.ContainsFunc(w.Name, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		return w, errors.New("name must be at most 100 characters without control characters")
	}
	u, err := url.Parse(e.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return w, errors.New("url must be an absolute http:// or https:// URL")
	}
	switch w.Format {
	case "":
		w.Format = FormatJSON
	case FormatJSON, FormatSlack, FormatTeams:
	default:
		return w, fmt.Errorf("format %q is not one of json, slack, teams", e.Format)
	}
	if len(e.On) == 0 {
		return w, fmt.Errorf("on is missing; list the transitions to send, of %s", triggerList())
	}
	for _, o := range e.On {
		t := gitops.Trigger(strings.ToLower(o))
		if !slices.Contains(gitops.Triggers, t) {
			return w, fmt.Errorf("on: %q is not one of %s", o, triggerList())
		}
		if !slices.Contains(w.On, t) {
			w.On = append(w.On, t)
		}
	}
	for _, g := range w.ServerGroups {
		if _, err := path.Match(g, ""); err != nil || g == "" {
			return w, fmt.Errorf("server_groups: %q is not a glob pattern such as \"rsyslog-*\"", g)
		}
	}
	if e.RemindEvery != "" {
		d, err := time.ParseDuration(e.RemindEvery)
		if err != nil || d < time.Minute {
			return w, fmt.Errorf("remind_every %q must be a Go duration of at least 1m, such as \"4h\"", e.RemindEvery)
		}
		w.RemindEvery = d
	}
	return w, nil
}

func triggerList() string {
	s := make([]string, len(gitops.Triggers))
	for i, t := range gitops.Triggers {
		s[i] = string(t)
	}
	return strings.Join(s, ", ")
}

func oneLine(err error) string { return strings.Join(strings.Fields(err.Error()), " ") }
