package ui

import (
	"strconv"
	"strings"
	"time"

	gitops "github.com/gitops-status/gitops-status"
)

// span formats a non-negative duration the way a person reads it at a
// glance: one unit, rounded down, precise enough to tell "just drifted" from
// "drifted last week". The unit changes late (120 min, 48 h) so that a
// value never loses more than half of itself to rounding down:
// "90 min" rather than "1 h", "36 h" rather than "1 d".
func span(d time.Duration) string {
	switch {
	case d < 0:
		d = 0
		fallthrough
	case d < time.Minute:
		return strconv.Itoa(int(d/time.Second)) + " s"
	case d < 120*time.Minute:
		return strconv.Itoa(int(d/time.Minute)) + " min"
	case d < 48*time.Hour:
		return strconv.Itoa(int(d/time.Hour)) + " h"
	default:
		return strconv.Itoa(int(d/(24*time.Hour))) + " d"
	}
}

// ago says how long before now t was: "12 min ago", "in 2 min" for a time
// ahead of the server's clock (a reporter's clock running fast), "never"
// for an unset time.
func ago(now, t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := now.Sub(t)
	if d < 0 {
		return "in " + span(-d)
	}
	return span(d) + " ago"
}

// timeCell is a time as a table cell shows it: Text at a glance, Exact on
// hover, ISO for <time datetime>; Exact and ISO are empty when unset.
type timeCell struct {
	Text  string
	Exact string
	ISO   string
}

// exactLayout is how exact times are shown on hover: UTC, to the second,
// with the zone named, because operators compare them with logs.
const exactLayout = "2006-01-02 15:04:05 UTC"

// agoCell is the cell of a time in the past: "12 min ago".
func agoCell(now, t time.Time) timeCell {
	c := timeCell{Text: ago(now, t)}
	if !t.IsZero() {
		c.Exact = t.UTC().Format(exactLayout)
		c.ISO = gitops.FormatTime(t)
	}
	return c
}

// forCell is the cell of how long something has lasted since t: "3 h".
func forCell(now, t time.Time) timeCell {
	if t.IsZero() {
		return timeCell{Text: "–"}
	}
	return timeCell{
		Text:  span(now.Sub(t)),
		Exact: t.UTC().Format(exactLayout),
		ISO:   gitops.FormatTime(t),
	}
}

// statusWord is a status as a person reads it: "out of sync".
func statusWord(s gitops.Status) string {
	if s == "" {
		return "–"
	}
	return strings.ReplaceAll(string(s), "_", " ")
}

// statusRank orders statuses worst first, so that sorting by status puts
// what needs attention at the top: failed, out of sync, unknown, synced.
func statusRank(s gitops.Status) int {
	switch s {
	case gitops.StatusFailed:
		return 0
	case gitops.StatusOutOfSync:
		return 1
	case gitops.StatusUnknown:
		return 2
	case gitops.StatusSynced:
		return 3
	}
	return 4
}

// validationRank orders validation results worst first.
func validationRank(v gitops.ValidationStatus) int {
	switch v {
	case gitops.ValidationFailed:
		return 0
	case gitops.ValidationUnknown:
		return 1
	case gitops.ValidationSkipped:
		return 2
	case gitops.ValidationPassed:
		return 3
	}
	return 4
}

// shortCommit is the first 7 characters of a commit, as git shows it.
func shortCommit(sha string) string {
	r := []rune(sha)
	if len(r) <= 7 {
		return sha
	}
	return string(r[:7])
}

// thousands writes n with a thin separator every three digits: "10,000".
func thousands(n int) string {
	s := strconv.Itoa(n)
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
