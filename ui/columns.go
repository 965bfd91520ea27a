package ui

import (
	"cmp"
	"slices"
	"strings"
	"time"

	gitops "github.com/gitops-status/gitops-status"
)

// The fleet table's columns, and how its rows sort by one of them.

// column is a sortable column of the fleet table. key gives a server's
// value as shown, in an order where ascending is the column's; blank
// reports a server without a value, which sorts last in both directions,
// so that "never" never hides what is there.
type column struct {
	Key   string
	Label string
	// Title explains the column on hover.
	Title string
	// Num aligns the column to the right.
	Num bool
	// key is what rows sort by: a string, or a number when str is "";
	// ascending is the order of the keys.
	key   func(s *gitops.ServerSample) (str string, num int64)
	blank func(s *gitops.ServerSample) bool
}

// defaultSort is the column rows are sorted by when the URL names none: the
// host, so that the table reads in the order of GET /status.
const defaultSort = "host"

// columns lists the fleet table's columns in the order they are shown.
// Times are shown as how long ago, so ascending is the newest first.
var columns = []column{
	{Key: "host", Label: "Host", Title: "host, inside its server_group",
		key: func(s *gitops.ServerSample) (string, int64) { return s.Host, 0 }},
	{Key: "status", Label: "Status", Title: "status: failed, out of sync, unknown, synced (worst first)",
		key: func(s *gitops.ServerSample) (string, int64) { return "", int64(statusRank(s.Status)) }},
	timeColumn("for", "For", "how long the server has had this status (status_since)",
		func(s *gitops.ServerSample) time.Time { return s.StatusSince }),
	{Key: "validation", Label: "Validation", Title: "validation_status of the last pipeline (its message on hover)",
		key: func(s *gitops.ServerSample) (string, int64) { return "", int64(validationRank(s.ValidationStatus)) }},
	textColumn("environment", "Environment", "environment",
		func(s *gitops.ServerSample) string { return s.Environment }),
	textColumn("type", "Type", "server_type",
		func(s *gitops.ServerSample) string { return s.ServerType }),
	textColumn("commit", "Commit", "commit_sha of the last pipeline (the whole one on hover)",
		func(s *gitops.ServerSample) string { return s.CommitSHA }),
	textColumn("branch", "Branch", "branch of the last pipeline",
		func(s *gitops.ServerSample) string { return s.Branch }),
	{Key: "files", Label: "Files", Title: "number of changed_files (deployed, or drifted when out of sync)", Num: true,
		key: func(s *gitops.ServerSample) (string, int64) { return "", int64(s.ChangedFiles) }},
	timeColumn("pipeline", "Last pipeline", "last_pipeline_run (the exact time on hover)",
		func(s *gitops.ServerSample) time.Time { return s.LastPipelineRun }),
	timeColumn("cron", "Last cron", "last_cron_check (the exact time on hover)",
		func(s *gitops.ServerSample) time.Time { return s.LastCronCheck }),
}

// textColumn is a column of a text field, blank when empty.
func textColumn(key, label, title string, field func(*gitops.ServerSample) string) column {
	return column{Key: key, Label: label, Title: title,
		key:   func(s *gitops.ServerSample) (string, int64) { return field(s), 0 },
		blank: func(s *gitops.ServerSample) bool { return field(s) == "" }}
}

// timeColumn is a column of a time, shown as how long ago, so ascending is
// the newest first; blank when unset.
func timeColumn(key, label, title string, field func(*gitops.ServerSample) time.Time) column {
	return column{Key: key, Label: label, Title: title,
		key:   func(s *gitops.ServerSample) (string, int64) { return "", -field(s).UnixMicro() },
		blank: func(s *gitops.ServerSample) bool { return field(s).IsZero() }}
}

func columnByKey(key string) *column {
	for i := range columns {
		if columns[i].Key == key {
			return &columns[i]
		}
	}
	return nil
}

func columnKeys() string {
	keys := make([]string, len(columns))
	for i, c := range columns {
		keys[i] = `"` + c.Key + `"`
	}
	return strings.Join(keys, ", ")
}

// item is a server of the fleet view that matches every filter, as much
// of it as counting, sorting and grouping need.
type item struct {
	// i is the server's place in the view it was read from.
	i           int32
	group, host string
	status      gitops.Status
	// str, num and blank are its value in the column rows are sorted by.
	str   string
	num   int64
	blank bool
}

// sortItems sorts items, which are in host order, by their key in col;
// ties keep host order, and items without a value go last either way.
func sortItems(items []item, col *column, desc bool) {
	if col.Key == defaultSort && !desc {
		return
	}
	slices.SortStableFunc(items, func(a, b item) int {
		if a.blank != b.blank {
			if a.blank {
				return 1
			}
			return -1
		}
		if a.blank {
			return 0
		}
		c := strings.Compare(a.str, b.str)
		if c == 0 {
			c = cmp.Compare(a.num, b.num)
		}
		if desc {
			c = -c
		}
		return c
	})
}
