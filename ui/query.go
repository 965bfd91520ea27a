package ui

import (
	"net/url"
	"slices"
	"strconv"
	"strings"

	gitops "github.com/gitops-status/gitops-status"
)

// fleetQuery is the whole state of the fleet view, read from and written to
// the URL so that a view can be shared and survives a reload. Its parameter
// names are GET /status's (server_group, environment, …; a repeated one
// means OR), plus q (a substring of the host, any letter case), sort (a
// column key, "-" first for descending) and refresh (seconds, 0 = off).
type fleetQuery struct {
	Search      string
	Groups      []string
	Envs        []string
	Types       []string
	Validations []gitops.ValidationStatus
	Statuses    []gitops.Status
	// Stale is "", "true" or "false".
	Stale string
	// Behind is "", "true" or "false".
	Behind  string
	Sort    string
	Desc    bool
	Refresh int
	// Page counts from 1; PerPage is the number of rows a page shows.
	Page    int
	PerPage int
	// defaultRefresh is the refresh a URL without the parameter gets; it is
	// left out of URLs.
	defaultRefresh int
}

// maxRefresh bounds the refresh parameter: an hour is already a page
// nobody watches.
const maxRefresh = 3600

// Rows per page: the default keeps a page quick to load and to refresh in
// the browser (docs/ui.md has the measurements), and the most a URL may ask
// for keeps one page from taking the browser down.
const (
	defaultPerPage = 500
	maxPerPage     = 10000
)

// perPageOptions are the page sizes the page offers.
var perPageOptions = []int{100, 500, 1000, 2000}

// parseFleetQuery reads the fleet view's URL parameters. Empty values are
// ignored, as GET /status ignores them; a value that cannot mean anything
// is an EINVALID error saying what is accepted.
func parseFleetQuery(v url.Values, defaultRefresh int) (fleetQuery, error) {
	q := fleetQuery{Sort: defaultSort, Refresh: defaultRefresh, defaultRefresh: defaultRefresh, Page: 1, PerPage: defaultPerPage}
	q.Search = strings.TrimSpace(v.Get("q"))
	q.Groups = nonEmpty(v["server_group"])
	q.Envs = nonEmpty(v["environment"])
	q.Types = nonEmpty(v["server_type"])
	for _, s := range nonEmpty(v["status"]) {
		st, err := gitops.ParseStatus("status", s)
		if err != nil {
			return q, err
		}
		if !slices.Contains(q.Statuses, st) {
			q.Statuses = append(q.Statuses, st)
		}
	}
	for _, s := range nonEmpty(v["validation_status"]) {
		vs, err := gitops.ParseValidationStatus("validation_status", s)
		if err != nil {
			return q, err
		}
		if !slices.Contains(q.Validations, vs) {
			q.Validations = append(q.Validations, vs)
		}
	}
	switch s := strings.ToLower(v.Get("stale")); s {
	case "", "true", "false":
		q.Stale = s
	default:
		return q, gitops.FieldErrorf("stale", "stale %q is not one of \"true\", \"false\"", v.Get("stale"))
	}
	switch s := strings.ToLower(v.Get("behind")); s {
	case "", "true", "false":
		q.Behind = s
	default:
		return q, gitops.FieldErrorf("behind", "behind %q is not one of \"true\", \"false\"", v.Get("behind"))
	}
	if s := v.Get("sort"); s != "" {
		key, desc := strings.CutPrefix(s, "-")
		if columnByKey(key) == nil {
			return q, gitops.FieldErrorf("sort", "sort %q is not a column; use one of %s, with \"-\" first for descending", s, columnKeys())
		}
		q.Sort, q.Desc = key, desc
	}
	if s := v.Get("refresh"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 || n > maxRefresh {
			return q, gitops.FieldErrorf("refresh", "refresh %q is not a number of seconds from 0 (off) to %d", s, maxRefresh)
		}
		q.Refresh = n
	}
	if s := v.Get("page"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return q, gitops.FieldErrorf("page", "page %q is not a page number (1 or more)", s)
		}
		q.Page = n
	}
	if s := v.Get("per_page"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxPerPage {
			return q, gitops.FieldErrorf("per_page", "per_page %q is not a number of rows from 1 to %d", s, maxPerPage)
		}
		q.PerPage = n
	}
	return q, nil
}

func nonEmpty(vs []string) []string {
	var out []string
	for _, s := range vs {
		if s = strings.TrimSpace(s); s != "" && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// URL is the fleet view's address for q, with parameters in a fixed order
// and defaults left out, so that equal views have equal URLs.
func (q fleetQuery) URL() string {
	v := make([]string, 0, 8)
	add := func(k, val string) { v = append(v, k+"="+url.QueryEscape(val)) }
	if q.Search != "" {
		add("q", q.Search)
	}
	for _, s := range q.Groups {
		add("server_group", s)
	}
	for _, s := range q.Envs {
		add("environment", s)
	}
	for _, s := range q.Types {
		add("server_type", s)
	}
	for _, s := range q.Validations {
		add("validation_status", string(s))
	}
	for _, s := range q.Statuses {
		add("status", string(s))
	}
	if q.Stale != "" {
		add("stale", q.Stale)
	}
	if q.Behind != "" {
		add("behind", q.Behind)
	}
	if q.Sort != defaultSort || q.Desc {
		if q.Desc {
			add("sort", "-"+q.Sort)
		} else {
			add("sort", q.Sort)
		}
	}
	if q.Refresh != q.defaultRefresh {
		add("refresh", strconv.Itoa(q.Refresh))
	}
	if q.PerPage != defaultPerPage && q.PerPage != 0 {
		add("per_page", strconv.Itoa(q.PerPage))
	}
	if q.Page > 1 {
		add("page", strconv.Itoa(q.Page))
	}
	if len(v) == 0 {
		return basePath
	}
	return basePath + "?" + strings.Join(v, "&")
}

// filtered reports whether q narrows the fleet at all.
func (q fleetQuery) filtered() bool {
	return q.Search != "" || len(q.Groups) > 0 || len(q.Envs) > 0 || len(q.Types) > 0 ||
		len(q.Validations) > 0 || len(q.Statuses) > 0 || q.Stale != "" || q.Behind != ""
}

// clone returns a copy of q that shares no slice with it, on the first
// page: every link that changes the view starts again at its top.
func (q fleetQuery) clone() fleetQuery {
	q.Page = 1
	q.Groups = slices.Clone(q.Groups)
	q.Envs = slices.Clone(q.Envs)
	q.Types = slices.Clone(q.Types)
	q.Validations = slices.Clone(q.Validations)
	q.Statuses = slices.Clone(q.Statuses)
	return q
}

// withStatus is the URL of q with status st toggled; "" clears the status
// filter.
func (q fleetQuery) withStatus(st gitops.Status) string {
	c := q.clone()
	switch {
	case st == "":
		c.Statuses = nil
	case slices.Contains(c.Statuses, st):
		c.Statuses = slices.DeleteFunc(c.Statuses, func(s gitops.Status) bool { return s == st })
	default:
		c.Statuses = append(c.Statuses, st)
	}
	return c.URL()
}

// withStaleToggled is the URL of q with the stale=true filter toggled.
func (q fleetQuery) withStaleToggled() string {
	c := q.clone()
	c.Stale = toggled(c.Stale)
	return c.URL()
}

// withBehindToggled is the URL of q with the behind=true filter toggled.
func (q fleetQuery) withBehindToggled() string {
	c := q.clone()
	c.Behind = toggled(c.Behind)
	return c.URL()
}

// toggled is a true/false filter's value toggled: "true" when it was not,
// "" (no filter) when it was.
func toggled(v string) string {
	if v == "true" {
		return ""
	}
	return "true"
}

// withGroup is the URL of q narrowed to group g alone.
func (q fleetQuery) withGroup(g string) string {
	c := q.clone()
	c.Groups = []string{g}
	return c.URL()
}

// withSort is the URL of q sorted by key: ascending first, and reversed when
// it is already sorted by key.
func (q fleetQuery) withSort(key string) string {
	c := q.clone()
	c.Desc = c.Sort == key && !c.Desc
	c.Sort = key
	return c.URL()
}

// Filtered is filtered, for templates.
func (q fleetQuery) Filtered() bool { return q.filtered() }

// HasValidation reports whether the validation filter holds v.
func (q fleetQuery) HasValidation(v gitops.ValidationStatus) bool {
	return slices.Contains(q.Validations, v)
}

// SortParam is the sort parameter of q's URL, "" for the default.
func (q fleetQuery) SortParam() string {
	switch {
	case q.Desc:
		return "-" + q.Sort
	case q.Sort != defaultSort:
		return q.Sort
	}
	return ""
}

// RefreshParam is the refresh parameter of q's URL, "" for the default.
func (q fleetQuery) RefreshParam() string {
	if q.Refresh == q.defaultRefresh {
		return ""
	}
	return strconv.Itoa(q.Refresh)
}

// ClearURL is q's URL without its filters: the sort, refresh and page
// size stay.
func (q fleetQuery) ClearURL() string {
	return fleetQuery{Sort: q.Sort, Desc: q.Desc, Refresh: q.Refresh, defaultRefresh: q.defaultRefresh, PerPage: q.PerPage}.URL()
}

// withPage is the URL of q's page n.
func (q fleetQuery) withPage(n int) string {
	q.Page = n
	return q.URL()
}

// PerPageParam is the per_page parameter of q's URL, "" for the default.
func (q fleetQuery) PerPageParam() string {
	if q.PerPage == defaultPerPage {
		return ""
	}
	return strconv.Itoa(q.PerPage)
}
