package main

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	gitops "github.com/gitops-status/gitops-status"
)

// statusColors are ANSI colours of the statuses; every code has the same
// length, though padding is computed on the plain text anyway.
var statusColors = map[gitops.Status]string{
	gitops.StatusSynced:    "\x1b[32m", // green
	gitops.StatusOutOfSync: "\x1b[33m", // yellow
	gitops.StatusFailed:    "\x1b[31m", // red
	gitops.StatusUnknown:   "\x1b[90m", // grey
}

func paint(s string, st gitops.Status, color bool) string {
	c, ok := statusColors[st]
	if !color || !ok {
		return s
	}
	return c + s + "\x1b[0m"
}

// writeTable prints servers as aligned columns, one line each.
func writeTable(w io.Writer, servers []gitops.Server, now time.Time, color bool) {
	header := []string{"GROUP", "HOST", "STATUS", "SINCE", "VALIDATION", "COMMIT", "BRANCH", "FILES", "LAST REPORT"}
	rows := make([][]string, len(servers))
	for i := range servers {
		s := &servers[i]
		last := ago(now, s.LastReport())
		if s.LastSource != "" && !s.LastReport().IsZero() {
			last += " (" + string(s.LastSource) + ")"
		}
		if s.Stale {
			last += ", stale"
		}
		rows[i] = []string{s.ServerGroup, s.Host, string(s.Status), ago(now, s.StatusSince),
			string(s.ValidationStatus), dash(shortSHA(s.CommitSHA)), dash(s.Branch),
			fmt.Sprint(len(s.ChangedFiles)), last}
	}
	width := make([]int, len(header))
	for _, r := range append([][]string{header}, rows...) {
		for j, cell := range r {
			width[j] = max(width[j], len([]rune(cell)))
		}
	}
	line := func(r []string, st gitops.Status) {
		var b strings.Builder
		for j, cell := range r {
			pad := strings.Repeat(" ", width[j]-len([]rune(cell)))
			if j == 2 {
				cell = paint(cell, st, color)
			}
			if j == len(r)-1 {
				pad = ""
			}
			b.WriteString(cell + pad)
			if j < len(r)-1 {
				b.WriteString("  ")
			}
		}
		fmt.Fprintln(w, b.String())
	}
	line(header, "")
	for i, r := range rows {
		line(r, servers[i].Status)
	}
}

// writeDetail prints one record, a field a line.
func writeDetail(w io.Writer, s *gitops.Server, now time.Time, color bool) {
	at := func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return gitops.FormatTime(t) + " (" + ago(now, t) + ")"
	}
	validation := string(s.ValidationStatus)
	if s.ValidationMessage != "" {
		validation += ": " + s.ValidationMessage
	}
	stale := "no"
	if s.Stale {
		stale = "yes"
	}
	if s.StaleAfter != "" {
		stale += " (its own threshold: " + s.StaleAfter + ")"
	}
	labels := make([]string, 0, len(s.Labels))
	for k, v := range s.Labels {
		labels = append(labels, k+"="+v)
	}
	sort.Strings(labels)
	fields := [][2]string{
		{"server", s.Key().String()},
		{"status", paint(string(s.Status), s.Status, color) + " since " + at(s.StatusSince)},
		{"last deploy", dash(string(s.PipelineStatus)) + ", " + at(s.LastPipelineRun)},
		{"last drift check", dash(string(s.DriftStatus)) + ", " + at(s.LastCronCheck)},
		{"last source", dash(string(s.LastSource))},
		{"validation", validation},
		{"commit", dash(s.CommitSHA)},
		{"branch", dash(s.Branch)},
		{"updated by", dash(s.UpdatedBy)},
		{"project", dash(s.ProjectName)},
		{"repository", dash(s.RepoName)},
		{"server type", dash(s.ServerType)},
		{"environment", dash(s.Environment)},
		{"labels", dash(strings.Join(labels, ", "))},
		{"stale", stale},
		{"changed files", fmt.Sprint(len(s.ChangedFiles))},
	}
	for _, f := range fields {
		fmt.Fprintf(w, "%-17s %s\n", f[0]+":", f[1])
	}
	for _, f := range s.ChangedFiles {
		fmt.Fprintf(w, "  %s\n", f)
	}
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// ago says how long before now t was, in the largest whole unit: "45s ago",
// "12m ago", "5h ago", "3d ago"; "-" for an unset time. A t after now (the
// server's clock ahead of ours) is "just now".
func ago(now, t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := now.Sub(t)
	switch {
	case d < time.Second:
		return "just now"
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d/time.Minute))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh ago", int(d/time.Hour))
	default:
		return fmt.Sprintf("%dd ago", int(d/(24*time.Hour)))
	}
}
