package ui

import (
	"cmp"
	"slices"
	"strings"
	"time"

	gitops "github.com/gitops-status/gitops-status"
)

// row is one server as the fleet table shows it.
type row struct {
	Group       string
	Host        string
	Href        string
	Status      gitops.Status
	StatusWord  string
	Stale       bool
	For         timeCell
	Validation  gitops.ValidationStatus
	Message     string
	Environment string
	Type        string
	Commit      string
	CommitShort string
	// Behind says the server runs another commit than its branch's head,
	// Desired (SPEC §10).
	Behind       bool
	Desired      string
	DesiredShort string
	Branch       string
	Files        int
	Pipeline     timeCell
	Cron         timeCell
}

func newRow(s *gitops.Server, now time.Time) row {
	return row{
		Group:        s.ServerGroup,
		Host:         s.Host,
		Href:         serverPath(s.Key()),
		Status:       s.Status,
		StatusWord:   statusWord(s.Status),
		Stale:        s.Stale,
		For:          forCell(now, s.StatusSince),
		Validation:   s.ValidationStatus,
		Message:      s.ValidationMessage,
		Environment:  s.Environment,
		Type:         s.ServerType,
		Commit:       s.CommitSHA,
		CommitShort:  shortCommit(s.CommitSHA),
		Behind:       s.Desired.Behind,
		Desired:      s.Desired.CommitSHA,
		DesiredShort: shortCommit(s.Desired.CommitSHA),
		Branch:       s.Branch,
		Files:        len(s.ChangedFiles),
		Pipeline:     agoCell(now, s.LastPipelineRun),
		Cron:         agoCell(now, s.LastCronCheck),
	}
}

// statusCount is a count at the top of the fleet view, a link that toggles
// its filter.
type statusCount struct {
	Status gitops.Status
	Word   string
	N      int
	Active bool
	Href   string
}

// group is one server_group of the fleet table, or the part of it on the
// page shown.
type group struct {
	Name string
	Href string
	Rows []row
	// Summary counts every server of the group that matches the filters, by
	// status, worst first: "12 servers: 2 failed, 1 out of sync, 9 synced".
	Summary string
	// Continued marks a group whose first rows are on the previous page.
	Continued bool
}

// header is a column heading: a link that sorts by it.
type header struct {
	column
	Href string
	// Sort is the aria-sort value: "ascending", "descending" or "".
	Sort string
}

// pager says which rows a page shows and links to the others.
type pager struct {
	Page, Pages int
	// From and To number the rows shown, from 1.
	From, To                                int
	FirstHref, PrevHref, NextHref, LastHref string
}

// fleet is the model of the fleet view.
type fleet struct {
	Query fleetQuery
	// Total is the number of servers in the fleet; Shown the number that
	// match every filter, on all pages.
	Total, Shown int
	// All counts the servers matching every filter but the status one.
	All       statusCount
	Counts    []statusCount
	StaleN    int
	StaleOn   bool
	StaleHref string
	// BehindN counts the servers behind their branch's head (SPEC §10).
	BehindN    int
	BehindOn   bool
	BehindHref string
	Groups     []group
	Headers    []header
	Pager      pager
	// Options are the values the filters offer: every value in the fleet.
	GroupOptions, EnvOptions, TypeOptions []string
	Validations                           []gitops.ValidationStatus
	PerPageOptions                        []int
}

// buildFleet filters, counts, sorts, groups and pages the servers of v
// (sorted by group, then host, as Store.List returns them) as q says, at
// now. It is the whole of the fleet view but the HTML.
//
// It reads what a Samples view holds of each server, never its record:
// only the rows of the page shown are built from records, which get reads
// by the server's place in v and its key (an ENOTFOUND leaves out a server
// deleted since v was taken). At 400,000 servers decoding every record
// cost ~1 s and a few hundred MB a view.
//
// Counts are facets: each status count is of the servers that match every
// filter except the status one, and the stale count of those that match
// every filter except stale, so that a count says what clicking it shows.
// With no filter they are /summary's by_status and stale.
//
// Rows are sorted within their group, groups by name; pages cut the
// result into q.PerPage rows, and only the rows of the page shown are
// built.
func buildFleet(v gitops.Samples, get func(i int, k gitops.Key) (*gitops.Server, error), q fleetQuery, now time.Time) (fleet, error) {
	f := fleet{Query: q, Total: v.Len(), Validations: gitops.ValidationStatuses, PerPageOptions: perPageOptions}
	if !slices.Contains(perPageOptions, q.PerPage) {
		// A size the URL asked for is offered too, so the form keeps it.
		f.PerPageOptions = append(slices.Clone(perPageOptions), q.PerPage)
		slices.Sort(f.PerPageOptions)
	}
	col := columnByKey(q.Sort)
	shown := f.count(v, q, col)
	for _, c := range columns {
		h := header{column: c, Href: q.withSort(c.Key)}
		if c.Key == col.Key {
			h.Sort = "ascending"
			if q.Desc {
				h.Sort = "descending"
			}
		}
		f.Headers = append(f.Headers, h)
	}
	if err := f.fillPage(shown, col, get, now); err != nil {
		return fleet{}, err
	}
	return f, nil
}

// count fills in f's counts and filter options from every server of v,
// and returns the servers f.Query shows, in v's order, keyed by col.
func (f *fleet) count(v gitops.Samples, q fleetQuery, col *column) []item {
	byStatus := map[gitops.Status]int{}
	// The servers shown, by their place in v: a first pass counts and
	// filters, a second reads the shown ones again into items of the
	// right number, instead of growing a slice of them ~5 times its size.
	idx := make([]int32, 0, v.Len())
	groups, envs, types := map[string]bool{}, map[string]bool{}, map[string]bool{}
	search := strings.ToLower(q.Search)
	var s gitops.ServerSample
	for i := range v.Len() {
		v.At(i, &s)
		groups[s.ServerGroup] = true
		envs[s.Environment] = true
		types[s.ServerType] = true
		if !q.matchesBase(&s, search) {
			continue
		}
		statusOK := len(q.Statuses) == 0 || slices.Contains(q.Statuses, s.Status)
		staleOK := q.Stale == "" || (q.Stale == "true") == s.Stale
		behindOK := q.Behind == "" || (q.Behind == "true") == s.Desired.Behind
		if staleOK && behindOK {
			byStatus[s.Status]++
			f.All.N++
		}
		if statusOK && behindOK && s.Stale {
			f.StaleN++
		}
		if statusOK && staleOK && s.Desired.Behind {
			f.BehindN++
		}
		if statusOK && staleOK && behindOK {
			idx = append(idx, int32(i))
		}
	}
	shown := make([]item, len(idx))
	for j, i := range idx {
		v.At(int(i), &s)
		it := &shown[j]
		it.i, it.group, it.host, it.status = i, s.ServerGroup, s.Host, s.Status
		it.str, it.num = col.key(&s)
		it.blank = col.blank != nil && col.blank(&s)
	}
	f.Shown = len(shown)
	f.All.Word, f.All.Href, f.All.Active = "all", q.withStatus(""), len(q.Statuses) == 0
	for _, st := range gitops.Statuses {
		f.Counts = append(f.Counts, statusCount{
			Status: st, Word: statusWord(st), N: byStatus[st],
			Active: slices.Contains(q.Statuses, st), Href: q.withStatus(st),
		})
	}
	slices.SortStableFunc(f.Counts, func(a, b statusCount) int { return cmp.Compare(statusRank(a.Status), statusRank(b.Status)) })
	f.StaleOn, f.StaleHref = q.Stale == "true", q.withStaleToggled()
	f.BehindOn, f.BehindHref = q.Behind == "true", q.withBehindToggled()
	f.GroupOptions, f.EnvOptions, f.TypeOptions = sortedKeys(groups), sortedKeys(envs), sortedKeys(types)
	return shown
}

// fillPage sorts shown within each group by col, and builds the groups and
// rows of f's page, each row from its record as get reads it.
func (f *fleet) fillPage(shown []item, col *column, get func(i int, k gitops.Key) (*gitops.Server, error), now time.Time) error {
	q := f.Query
	// Sort each group, and remember its summary and where it starts.
	summaries := map[string]string{}
	starts := map[string]int{}
	for start := 0; start < len(shown); {
		end := start + 1
		for end < len(shown) && shown[end].group == shown[start].group {
			end++
		}
		sortItems(shown[start:end], col, q.Desc)
		summaries[shown[start].group] = groupSummary(shown[start:end])
		starts[shown[start].group] = start
		start = end
	}

	f.Pager = newPager(q, len(shown))
	for _, it := range shown[max(0, f.Pager.From-1):f.Pager.To] {
		sv, err := get(int(it.i), gitops.Key{ServerGroup: it.group, Host: it.host})
		if gitops.ErrorCode(err) == gitops.ENOTFOUND {
			continue // deleted since the view was read
		}
		if err != nil {
			return err
		}
		if n := len(f.Groups); n == 0 || f.Groups[n-1].Name != it.group {
			f.Groups = append(f.Groups, group{
				Name:      it.group,
				Href:      q.withGroup(it.group),
				Summary:   summaries[it.group],
				Continued: starts[it.group] < f.Pager.From-1,
			})
		}
		g := &f.Groups[len(f.Groups)-1]
		g.Rows = append(g.Rows, newRow(sv, now))
	}
	return nil
}

// newPager places q's page among n rows; a page past the end shows the
// last one, so that a shared link survives a fleet that shrank.
func newPager(q fleetQuery, n int) pager {
	p := pager{Pages: max(1, (n+q.PerPage-1)/q.PerPage)}
	p.Page = min(max(q.Page, 1), p.Pages)
	if n > 0 {
		p.From = (p.Page-1)*q.PerPage + 1
		p.To = min(n, p.Page*q.PerPage)
	}
	if p.Page > 1 {
		p.FirstHref, p.PrevHref = q.withPage(1), q.withPage(p.Page-1)
	}
	if p.Page < p.Pages {
		p.NextHref, p.LastHref = q.withPage(p.Page+1), q.withPage(p.Pages)
	}
	return p
}

// matchesBase reports whether s matches every filter of q but status and
// stale. search is q.Search lower-cased.
func (q fleetQuery) matchesBase(s *gitops.ServerSample, search string) bool {
	if len(q.Groups) > 0 && !slices.Contains(q.Groups, s.ServerGroup) {
		return false
	}
	if len(q.Envs) > 0 && !slices.Contains(q.Envs, s.Environment) {
		return false
	}
	if len(q.Types) > 0 && !slices.Contains(q.Types, s.ServerType) {
		return false
	}
	if len(q.Validations) > 0 && !slices.Contains(q.Validations, s.ValidationStatus) {
		return false
	}
	return search == "" || containsFold(s.Host, search)
}

// containsFold reports whether s contains lower, which is lower-case,
// in any ASCII letter case (identifiers are ASCII), without allocating.
func containsFold(s, lower string) bool {
	for i := 0; i+len(lower) <= len(s); i++ {
		j := 0
		for ; j < len(lower); j++ {
			c := s[i+j]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != lower[j] {
				break
			}
		}
		if j == len(lower) {
			return true
		}
	}
	return false
}

// groupSummary counts servers by status, worst first.
func groupSummary(servers []item) string {
	n := map[gitops.Status]int{}
	for _, s := range servers {
		n[s.status]++
	}
	var parts []string
	for _, st := range []gitops.Status{gitops.StatusFailed, gitops.StatusOutOfSync, gitops.StatusUnknown, gitops.StatusSynced} {
		if n[st] > 0 {
			parts = append(parts, thousands(n[st])+" "+statusWord(st))
		}
	}
	noun := " servers: "
	if len(servers) == 1 {
		noun = " server: "
	}
	return thousands(len(servers)) + noun + strings.Join(parts, ", ")
}

func sortedKeys(m map[string]bool) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		if k != "" {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}
