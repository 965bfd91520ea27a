package metrics

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"sync"
	"time"

	gitops "github.com/gitops-status/gitops-status"
)

// The per-server families of SPEC §7, in the order a scrape lists them.
// Every series carries serverLabels; status and validation_status add the
// value they are about.
const (
	famStatus       = "gitops_server_status"
	famValidation   = "gitops_server_validation_status"
	famChangedFiles = "gitops_server_changed_files"
	famLastPipeline = "gitops_server_last_pipeline_run_timestamp_seconds"
	famLastCron     = "gitops_server_last_cron_check_timestamp_seconds"
	famStatusSince  = "gitops_server_status_since_timestamp_seconds"
	famStale        = "gitops_server_stale"
	famBehind       = "gitops_server_behind"
	famBehindSince  = "gitops_server_behind_since_timestamp_seconds"
	famServers      = "gitops_servers"
	famStoreUp      = "gitops_store_up"
)

// FleetFamilies names the families the scrape writes without the registry,
// in the order it writes them.
var FleetFamilies = []string{famStatus, famValidation, famChangedFiles, famLastPipeline, famLastCron,
	famStatusSince, famStale, famBehind, famBehindSince, famServers, famStoreUp}

var help = map[string]string{
	famStatus:       "1 for the server's current status, 0 for the other values: one series per server and status.",
	famValidation:   "1 for the validation status of the server's last pipeline report, 0 for the other values.",
	famChangedFiles: "Files the server's last report listed as changed (deployed or drifted).",
	famLastPipeline: "When a pipeline last reported the server, in unix seconds; absent before the first.",
	famLastCron:     "When a drift check last reported the server, in unix seconds; absent before the first.",
	famStatusSince:  "When the server's status last changed value, in unix seconds; absent when unknown.",
	famStale:        "1 when the server is stale: its newest report is older than its staleness threshold.",
	famBehind:       "1 when the server is behind: its branch's head (SPEC §10) is another commit than the one it runs.",
	famBehindSince:  "When the server's branch moved to the commit it is behind, in unix seconds; absent while not behind.",
	famServers:      "Servers per server_group and status.",
	famStoreUp:      "1 when this scrape read every server from the store; 0 when the store could not be read and the per-server series are missing.",
}

// chunkSize is how much of the answer is buffered before it is written to
// the client: large enough for few writes, small enough that a scrape of
// any fleet holds a fixed amount of memory.
const chunkSize = 256 << 10

// errWrite marks an error writing to the scrape's client, which ends the
// scrape without being the store's fault.
var errWrite = errors.New("writing the scrape")

// expo appends exposition lines to a buffer and writes it out in chunks.
// om selects OpenMetrics number style (1.0) over the text format's (1);
// both formats are otherwise the same for gauges.
type expo struct {
	w   io.Writer
	buf []byte
	om  bool
	err error
}

func (x *expo) flush() error {
	if x.err == nil && len(x.buf) > 0 {
		if _, err := x.w.Write(x.buf); err != nil {
			x.err = fmt.Errorf("%w: %w", errWrite, err)
		}
	}
	x.buf = x.buf[:0]
	return x.err
}

// header writes a gauge family's HELP and TYPE lines.
func (x *expo) header(name string) {
	x.buf = append(x.buf, "# HELP "...)
	x.buf = append(x.buf, name...)
	x.buf = append(x.buf, ' ')
	x.buf = appendEscaped(x.buf, help[name], x.om)
	x.buf = append(x.buf, "\n# TYPE "...)
	x.buf = append(x.buf, name...)
	x.buf = append(x.buf, " gauge\n"...)
}

// open starts a series line: the name, the labels and, when extra is not
// "", one more label; the caller appends the value and ends the line.
func (x *expo) open(name string, labels []byte, extra, value string) {
	x.buf = append(x.buf, name...)
	x.buf = append(x.buf, '{')
	x.buf = append(x.buf, labels...)
	if extra != "" {
		x.buf = append(x.buf, ',')
		x.buf = append(x.buf, extra...)
		x.buf = append(x.buf, `="`...)
		x.buf = appendLabelValue(x.buf, value)
		x.buf = append(x.buf, '"')
	}
	x.buf = append(x.buf, "} "...)
}

func (x *expo) bit(b bool) {
	switch {
	case b && x.om:
		x.buf = append(x.buf, "1.0\n"...)
	case b:
		x.buf = append(x.buf, "1\n"...)
	case x.om:
		x.buf = append(x.buf, "0.0\n"...)
	default:
		x.buf = append(x.buf, "0\n"...)
	}
}

// float writes f as client_golang does in each format.
func (x *expo) float(f float64) {
	start := len(x.buf)
	x.buf = strconv.AppendFloat(x.buf, f, 'g', -1, 64)
	if x.om && !bytes.ContainsAny(x.buf[start:], "e.") {
		x.buf = append(x.buf, ".0"...)
	}
	x.buf = append(x.buf, '\n')
}

func (x *expo) int(n int) {
	x.buf = strconv.AppendInt(x.buf, int64(n), 10)
	if x.om {
		x.buf = append(x.buf, ".0"...)
	}
	x.buf = append(x.buf, '\n')
}

// seconds writes a time kept in unix microseconds as unix seconds. Stored
// times are whole microseconds, so the exact decimal of the microseconds is
// written (parsing it gives the same float64 as dividing them by 10^6:
// both round the same number), without strconv's shortest-float search.
func (x *expo) seconds(us int64) {
	if us < 0 {
		x.float(float64(us) / 1e6) // before 1970: rare enough for strconv
		return
	}
	x.buf = strconv.AppendInt(x.buf, us/1e6, 10)
	frac := us % 1e6
	if frac == 0 {
		if x.om {
			x.buf = append(x.buf, ".0"...)
		}
		x.buf = append(x.buf, '\n')
		return
	}
	var digits [7]byte
	digits[0] = '.'
	for i := 6; i >= 1; i-- {
		digits[i] = byte('0' + frac%10)
		frac /= 10
	}
	end := 7
	for digits[end-1] == '0' {
		end--
	}
	x.buf = append(x.buf, digits[:end]...)
	x.buf = append(x.buf, '\n')
}

// appendServerLabels appends the labels every per-server series carries.
func appendServerLabels(dst []byte, s *gitops.ServerSample) []byte {
	dst = append(dst, `server_group="`...)
	dst = appendLabelValue(dst, s.ServerGroup)
	dst = append(dst, `",host="`...)
	dst = appendLabelValue(dst, s.Host)
	dst = append(dst, `",server_type="`...)
	dst = appendLabelValue(dst, s.ServerType)
	dst = append(dst, `",environment="`...)
	dst = appendLabelValue(dst, s.Environment)
	return append(dst, '"')
}

// appendLabelValue escapes a label value as both formats do: backslash,
// double quote and newline. Stores keep strings in valid UTF-8.
func appendLabelValue(dst []byte, v string) []byte {
	start := 0
	for i := 0; i < len(v); i++ {
		var esc string
		switch v[i] {
		case '\\':
			esc = `\\`
		case '"':
			esc = `\"`
		case '\n':
			esc = `\n`
		default:
			continue
		}
		dst = append(dst, v[start:i]...)
		dst = append(dst, esc...)
		start = i + 1
	}
	return append(dst, v[start:]...)
}

// appendEscaped escapes HELP text: backslash and newline, and in
// OpenMetrics the double quote too.
func appendEscaped(dst []byte, v string, quote bool) []byte {
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c == '\\':
			dst = append(dst, `\\`...)
		case c == '\n':
			dst = append(dst, `\n`...)
		case c == '"' && quote:
			dst = append(dst, `\"`...)
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

// groupCount is the servers of one group by status, in gitops.Statuses
// order.
type groupCount struct {
	group string
	n     [4]int
}

// noTime marks an unset time in a row.
const noTime = math.MinInt64

// row is what the families need of one server, copied out of the store's
// view in one pass: the families are then written from contiguous memory.
// Seven passes over the store's own entries, which lie all over the heap,
// cost a cache miss per entry and label string each time, and took about
// twice as long at 100,000 servers.
type row struct {
	lastPipeline, lastCron, since int64 // unix microseconds or noTime
	behindSince                   int64 // unix microseconds, noTime while not behind
	labelsEnd                     uint32
	files                         int32
	status, validation            int8 // index in gitops.Statuses, ValidationStatuses; -1 for none
	stale                         bool
}

// snapshot is the rows of one scrape and their label strings, end to end.
type snapshot struct {
	rows   []row
	labels []byte
	groups []groupCount
}

var snapshots = sync.Pool{New: func() any { return new(snapshot) }}

func micros(t time.Time) int64 {
	if t.IsZero() {
		return noTime
	}
	return t.UnixMicro()
}

func indexOf[T comparable](vs []T, v T) int8 {
	for i, x := range vs {
		if x == v {
			return int8(i)
		}
	}
	return -1
}

// take copies what the families need of every server in v.
func (sn *snapshot) take(v gitops.Samples) {
	n := v.Len()
	sn.rows, sn.labels, sn.groups = slices.Grow(sn.rows[:0], n), sn.labels[:0], sn.groups[:0]
	var s gitops.ServerSample
	for i := range n {
		v.At(i, &s)
		sn.labels = appendServerLabels(sn.labels, &s)
		r := row{
			lastPipeline: micros(s.LastPipelineRun), lastCron: micros(s.LastCronCheck), since: micros(s.StatusSince),
			labelsEnd: uint32(len(sn.labels)), files: int32(min(s.ChangedFiles, math.MaxInt32)),
			status: indexOf(gitops.Statuses, s.Status), validation: indexOf(gitops.ValidationStatuses, s.ValidationStatus),
			stale: s.Stale, behindSince: noTime,
		}
		if s.Desired.Behind {
			r.behindSince = micros(s.Desired.BehindSince)
		}
		sn.rows = append(sn.rows, r)
		if len(sn.groups) == 0 || sn.groups[len(sn.groups)-1].group != s.ServerGroup {
			sn.groups = append(sn.groups, groupCount{group: s.ServerGroup})
		}
		if r.status >= 0 {
			sn.groups[len(sn.groups)-1].n[r.status]++
		}
	}
}

// writeFleet writes the per-server families of every server in v, then the
// counts per group and status. Each family is one pass over the rows, so
// the answer streams out in chunks; what a scrape holds is the rows (about
// 130 bytes a server) and one chunk.
func writeFleet(x *expo, v gitops.Samples) error {
	sn := snapshots.Get().(*snapshot)
	defer snapshots.Put(sn)
	sn.take(v)
	pass := func(name string, line func(r *row, labels []byte)) error {
		x.header(name)
		start := uint32(0)
		for i := range sn.rows {
			r := &sn.rows[i]
			line(r, sn.labels[start:r.labelsEnd])
			start = r.labelsEnd
			if len(x.buf) >= chunkSize && x.flush() != nil {
				return x.err
			}
		}
		return x.err
	}
	passes := []struct {
		name string
		line func(r *row, labels []byte)
	}{
		{famStatus, func(r *row, labels []byte) {
			for j, st := range gitops.Statuses {
				x.open(famStatus, labels, "status", string(st))
				x.bit(int(r.status) == j)
			}
		}},
		{famValidation, func(r *row, labels []byte) {
			for j, vs := range gitops.ValidationStatuses {
				x.open(famValidation, labels, "validation_status", string(vs))
				x.bit(int(r.validation) == j)
			}
		}},
		{famChangedFiles, func(r *row, labels []byte) {
			x.open(famChangedFiles, labels, "", "")
			x.int(int(r.files))
		}},
		{famLastPipeline, func(r *row, labels []byte) {
			if r.lastPipeline != noTime {
				x.open(famLastPipeline, labels, "", "")
				x.seconds(r.lastPipeline)
			}
		}},
		{famLastCron, func(r *row, labels []byte) {
			if r.lastCron != noTime {
				x.open(famLastCron, labels, "", "")
				x.seconds(r.lastCron)
			}
		}},
		{famStatusSince, func(r *row, labels []byte) {
			if r.since != noTime {
				x.open(famStatusSince, labels, "", "")
				x.seconds(r.since)
			}
		}},
		{famStale, func(r *row, labels []byte) {
			x.open(famStale, labels, "", "")
			x.bit(r.stale)
		}},
		{famBehind, func(r *row, labels []byte) {
			x.open(famBehind, labels, "", "")
			x.bit(r.behindSince != noTime)
		}},
		{famBehindSince, func(r *row, labels []byte) {
			if r.behindSince != noTime {
				x.open(famBehindSince, labels, "", "")
				x.seconds(r.behindSince)
			}
		}},
	}
	for _, p := range passes {
		if err := pass(p.name, p.line); err != nil {
			return err
		}
	}
	x.header(famServers)
	labels := make([]byte, 0, 300)
	for _, g := range sn.groups {
		labels = append(append(labels[:0], `server_group="`...), g.group...)
		labels = append(labels, '"')
		for j, st := range gitops.Statuses {
			x.open(famServers, labels, "status", string(st))
			x.int(g.n[j])
		}
	}
	// The group names point into the store's records: let them go.
	clear(sn.groups)
	return x.flush()
}

// writeStoreUp writes gitops_store_up.
func writeStoreUp(x *expo, up bool) error {
	x.header(famStoreUp)
	x.buf = append(x.buf, famStoreUp...)
	x.buf = append(x.buf, ' ')
	x.bit(up)
	return x.flush()
}
