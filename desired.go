package gitops

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// SourceGit marks the events written when a head moves (SPEC §10).
const SourceGit Source = "git"

// MaxHeadNameLen is the longest repo_name or branch a head accepts.
const MaxHeadNameLen = 255

// Head is the newest commit of a branch of a repository: the commit every
// server of that repo and branch should run (SPEC §10).
type Head struct {
	RepoName  string
	Branch    string
	CommitSHA string
	// UpdatedAt is the server's clock when the head was last set.
	UpdatedAt time.Time
	UpdatedBy string
	// ReportedAt is the reported_at of the last applied set, zero when it
	// had none; the out-of-order rule compares with it.
	ReportedAt time.Time
}

// HeadKey identifies a head.
type HeadKey struct {
	RepoName string
	Branch   string
}

// Key returns the head's key.
func (h *Head) Key() HeadKey { return HeadKey{h.RepoName, h.Branch} }

func (k HeadKey) String() string { return k.RepoName + " " + k.Branch }

// headJSON is the JSON shape of a head, in answers and in the v2 document.
type headJSON struct {
	RepoName   string `json:"repo_name"`
	Branch     string `json:"branch"`
	CommitSHA  string `json:"commit_sha"`
	UpdatedAt  Time   `json:"updated_at"`
	UpdatedBy  string `json:"updated_by"`
	ReportedAt Time   `json:"reported_at"`
}

// MarshalJSON writes the head as GET /desired lists it.
func (h Head) MarshalJSON() ([]byte, error) {
	return json.Marshal(headJSON{h.RepoName, h.Branch, h.CommitSHA, Time{h.UpdatedAt}, h.UpdatedBy, Time{h.ReportedAt}})
}

// UnmarshalJSON reads a head as MarshalJSON writes it, with the rules of
// SetHead (names and commit checked, the commit lower-cased).
func (h *Head) UnmarshalJSON(b []byte) error {
	o, err := decodeObject(b)
	if err != nil {
		return err
	}
	u, err := headFields(o, ParseOptions{})
	if err != nil {
		return err
	}
	at, err := o.time("updated_at")
	if err != nil {
		return err
	}
	*h = Head{RepoName: u.RepoName, Branch: u.Branch, CommitSHA: u.CommitSHA, UpdatedAt: at, UpdatedBy: u.UpdatedBy, ReportedAt: u.ReportedAt}
	return nil
}

// ValidateHeadName checks a repo_name or branch: 1-255 characters, none of
// them a control character. Unlike server identifiers these come from git,
// so '/' and any printable character are accepted.
func ValidateHeadName(field, s string) error {
	if s == "" {
		return FieldErrorf(field, "%s is required: 1-%d characters, no control characters", field, MaxHeadNameLen)
	}
	if n := utf8.RuneCountInString(s); n > MaxHeadNameLen {
		return FieldErrorf(field, "%s is %d characters long; at most %d are accepted", field, n, MaxHeadNameLen)
	}
	if !utf8.ValidString(s) {
		return FieldErrorf(field, "%s must be valid UTF-8", field)
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return FieldErrorf(field, "%s %q contains the control character %U; control characters are not accepted", field, s, r)
		}
	}
	return nil
}

// ParseCommitSHA checks a head's commit: 4-64 hexadecimal digits, in any
// letter case. It returns the commit lower-cased.
func ParseCommitSHA(field, s string) (string, error) {
	if len(s) < 4 || len(s) > 64 {
		return "", FieldErrorf(field, "%s %q must be 4-64 hexadecimal digits, got %d characters", field, s, utf8.RuneCountInString(s))
	}
	for i := 0; i < len(s); i++ {
		if !isHex(s[i]) {
			return "", FieldErrorf(field, "%s %q must be 4-64 hexadecimal digits (0-9, a-f)", field, s)
		}
	}
	return asciiLower(s), nil
}

func isHex(c byte) bool { return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' }

// SameCommit reports whether two SHAs name the same commit (SPEC §10): one
// is a prefix of the other and the shorter has at least 7 digits, letter
// case aside. Identical SHAs are the same commit whatever their length.
// An empty SHA is no commit at all.
func SameCommit(a, b string) bool {
	if a == "" || b == "" {
		return false
	}
	if len(a) > len(b) {
		a, b = b, a
	}
	if len(a) < len(b) && len(a) < 7 {
		return false
	}
	// Byte by byte, ASCII letters folded: SHAs are ASCII, and every read
	// compares every record's commit, which strings.EqualFold, decoding
	// runes, made a tenth of a fleet read.
	for i := 0; i < len(a); i++ {
		if x, y := a[i], b[i]; x != y && x|0x20 != y|0x20 || x != y && !isLetter(x|0x20) {
			return false
		}
	}
	return true
}

func isLetter(c byte) bool { return 'a' <= c && c <= 'z' }

// SetHead is a request to set a head: POST /desired, or a git push.
type SetHead struct {
	RepoName  string
	Branch    string
	CommitSHA string
	UpdatedBy string
	// ReportedAt is when the commit was seen to be the branch's newest;
	// zero = unknown, and arrival order decides.
	ReportedAt time.Time
}

// Key returns the key of the head u sets.
func (u *SetHead) Key() HeadKey { return HeadKey{u.RepoName, u.Branch} }

// Validate checks u as ParseSetHead does and lower-cases its commit, for
// heads set other than from a request body (webhooks, tests).
func (u *SetHead) Validate() error {
	if err := ValidateHeadName("repo_name", u.RepoName); err != nil {
		return err
	}
	if err := ValidateHeadName("branch", u.Branch); err != nil {
		return err
	}
	c, err := ParseCommitSHA("commit_sha", u.CommitSHA)
	if err != nil {
		return err
	}
	u.CommitSHA = c
	return noNUL("updated_by", u.UpdatedBy)
}

// HeadOutcome is what applying a SetHead did.
type HeadOutcome struct {
	// Head is the stored head afterwards (the unchanged one when not
	// applied).
	Head    Head
	Applied bool
	// Event is the desired event to write, nil when the commit did not
	// change (or the set was not applied).
	Event *Event
	// Warnings say why the set was not applied.
	Warnings []string
}

// Apply sets the head cur (nil when the key has none) as u says, at the
// server's clock now, with the out-of-order rule of SPEC §2: a set whose
// reported_at is earlier than that of the last applied set is not applied.
func (u *SetHead) Apply(cur *Head, now time.Time) HeadOutcome {
	now = Now(now)
	reportedAt := truncate(u.ReportedAt)
	if cur != nil && !reportedAt.IsZero() && !cur.ReportedAt.IsZero() && reportedAt.Before(cur.ReportedAt) {
		return HeadOutcome{Head: *cur, Warnings: []string{fmt.Sprintf(
			"head not set: its reported_at %s is earlier than that of the head's last set (%s)",
			FormatTime(reportedAt), FormatTime(cur.ReportedAt))}}
	}
	next := Head{RepoName: u.RepoName, Branch: u.Branch, CommitSHA: u.CommitSHA, UpdatedAt: now, UpdatedBy: u.UpdatedBy, ReportedAt: reportedAt}
	out := HeadOutcome{Head: next, Applied: true}
	switch {
	case cur == nil:
		out.Event = next.event([]Change{ChangeCreated})
	case cur.CommitSHA != next.CommitSHA:
		out.Event = next.event([]Change{ChangeCommitSHA})
	default:
		// The same commit again: the branch did not move, so servers that
		// are behind have been behind since the first time it was set.
		out.Head.UpdatedAt = cur.UpdatedAt
	}
	return out
}

// event is the desired event of h: source git, the head's fields,
// server_group and host empty.
func (h *Head) event(changes []Change) *Event {
	return &Event{
		Time:      Time{h.UpdatedAt},
		Source:    SourceGit,
		RepoName:  h.RepoName,
		Branch:    h.Branch,
		CommitSHA: h.CommitSHA,
		UpdatedBy: h.UpdatedBy,
		Changes:   changes,
		// Events carry changed_files as a list, never null.
		ChangedFiles: []string{},
	}
}

var (
	setHeadKnown   = fieldSet([]string{"repo_name", "branch", "commit_sha", "updated_by", "reported_at"})
	setHeadIgnored = reasons("is set by the server", []string{"updated_at"})
)

// ParseSetHead reads the body of POST /desired. It returns the request and
// warnings about fields it ignored; errors are EINVALID.
func ParseSetHead(body []byte, p ParseOptions) (*SetHead, []string, error) {
	o, err := decodeObject(body)
	if err != nil {
		return nil, nil, err
	}
	u, err := headFields(o, p)
	if err != nil {
		return nil, nil, err
	}
	return u, warnFields(o, setHeadKnown, setHeadIgnored), nil
}

func headFields(o object, p ParseOptions) (*SetHead, error) {
	u := &SetHead{}
	var err error
	for _, f := range []struct {
		name string
		dst  *string
	}{{"repo_name", &u.RepoName}, {"branch", &u.Branch}, {"commit_sha", &u.CommitSHA}, {"updated_by", &u.UpdatedBy}} {
		if *f.dst, err = o.str(f.name); err != nil {
			return nil, err
		}
	}
	if u.ReportedAt, err = o.time("reported_at"); err != nil {
		return nil, err
	}
	if err := p.checkSkew("reported_at", u.ReportedAt); err != nil {
		return nil, err
	}
	if err := u.Validate(); err != nil {
		return nil, err
	}
	return u, nil
}

// SortHeads sorts heads by repo_name then branch, in byte order, as
// GET /desired lists them.
func SortHeads(heads []Head) {
	slices.SortFunc(heads, func(a, b Head) int {
		return cmp.Or(strings.Compare(a.RepoName, b.RepoName), strings.Compare(a.Branch, b.Branch))
	})
}
