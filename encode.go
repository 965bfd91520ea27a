package gitops

import (
	"slices"
	"strconv"
	"time"
	"unicode/utf8"
)

// AppendJSON appends the record as every response carries it: the stored
// fields, then the computed stale and changed_files_count. It writes the
// same JSON as json.Marshal would, without reflection, because listing a
// large fleet is mostly this.
func (s *Server) AppendJSON(dst []byte) []byte {
	return AppendJSONTail(s.AppendJSONHead(dst), s.Stale, len(s.ChangedFiles), s.Desired)
}

// AppendJSONHead appends the record without its computed tail: an object
// left open after "cron_reported_at". Stores that keep records encoded keep
// the head and add AppendJSONTail when they read it, since stale moves with
// the clock.
func (s *Server) AppendJSONHead(dst []byte) []byte {
	// One allocation for the whole head, instead of the buffer doubling
	// its way up from nothing: encoding a record on every write is where
	// the write path allocated most.
	dst = slices.Grow(dst, s.headSizeHint())
	dst = appendKeyString(dst, `{"project_name":`, s.ProjectName)
	dst = appendKeyString(dst, `,"repo_name":`, s.RepoName)
	dst = appendKeyString(dst, `,"server_group":`, s.ServerGroup)
	dst = appendKeyString(dst, `,"server_type":`, s.ServerType)
	dst = appendKeyString(dst, `,"environment":`, s.Environment)
	dst = appendKeyString(dst, `,"host":`, s.Host)
	dst = appendKeyString(dst, `,"status":`, string(s.Status))
	dst = append(dst, `,"changed_files":`...)
	dst = AppendJSONStrings(dst, s.ChangedFiles)
	dst = appendKeyString(dst, `,"validation_status":`, string(s.ValidationStatus))
	dst = appendKeyString(dst, `,"validation_message":`, s.ValidationMessage)
	dst = appendKeyString(dst, `,"commit_sha":`, s.CommitSHA)
	dst = appendKeyString(dst, `,"branch":`, s.Branch)
	dst = appendKeyString(dst, `,"updated_by":`, s.UpdatedBy)
	dst = appendKeyTime(dst, `,"last_pipeline_run":`, s.LastPipelineRun)
	dst = appendKeyTime(dst, `,"last_cron_check":`, s.LastCronCheck)
	dst = appendKeyTime(dst, `,"timestamp":`, s.Timestamp)
	dst = appendKeyTime(dst, `,"status_since":`, s.StatusSince)
	dst = appendKeyString(dst, `,"last_source":`, string(s.LastSource))
	dst = appendKeyString(dst, `,"pipeline_status":`, string(s.PipelineStatus))
	dst = appendKeyString(dst, `,"drift_status":`, string(s.DriftStatus))
	dst = append(dst, `,"labels":`...)
	dst = AppendJSONLabels(dst, s.Labels)
	dst = appendKeyString(dst, `,"stale_after":`, s.StaleAfter)
	dst = appendKeyTime(dst, `,"pipeline_reported_at":`, s.PipelineReportedAt)
	dst = appendKeyTime(dst, `,"cron_reported_at":`, s.CronReportedAt)
	return dst
}

// headSizeHint is the length of s's head when no string needs escaping,
// so that the head AppendJSONHead(nil) returns is one allocation of the
// smallest size that holds it: the store's index keeps every server's
// head for as long as the server is unchanged, and a hint a few dozen
// bytes too long put most heads of a fleet in the next size class (~120
// bytes more a server, 47 MB at 400,000; docs/performance.md). A string
// that needs escaping makes the head longer, and append grows it.
func (s *Server) headSizeHint() int {
	n := headPunctuation + len(s.ProjectName) + len(s.RepoName) + len(s.ServerGroup) + len(s.ServerType) +
		len(s.Environment) + len(s.Host) + len(s.Status) + len(s.ValidationStatus) +
		len(s.ValidationMessage) + len(s.CommitSHA) + len(s.Branch) + len(s.UpdatedBy) +
		len(s.LastSource) + len(s.PipelineStatus) + len(s.DriftStatus) + len(s.StaleAfter)
	for i, f := range s.ChangedFiles {
		n += len(f) + 2 // its quotes
		if i > 0 {
			n++ // the comma before it
		}
	}
	commas := -1
	for k, v := range s.Labels {
		n += len(k) + len(v) + 5 // "k":"v"
		commas++
	}
	n += max(commas, 0)
	for _, t := range []time.Time{s.LastPipelineRun, s.LastCronCheck, s.Timestamp, s.StatusSince,
		s.PipelineReportedAt, s.CronReportedAt} {
		n += timeLen(t)
	}
	return n
}

// headPunctuation is what every head has whatever its fields: the keys,
// with the brace and commas around them, the quotes of the sixteen
// strings, and the brackets of changed_files and braces of labels.
const headPunctuation = len(`{"project_name":,"repo_name":,"server_group":,"server_type":,"environment":,"host":,"status":`+
	`,"changed_files":,"validation_status":,"validation_message":,"commit_sha":,"branch":,"updated_by":`+
	`,"last_pipeline_run":,"last_cron_check":,"timestamp":,"status_since":,"last_source":,"pipeline_status"`+
	`:,"drift_status":,"labels":,"stale_after":,"pipeline_reported_at":,"cron_reported_at":`) + 16*2 + 2 + 2

// timeLen is the length appendKeyTime gives t, for years 0 to 9999:
// null, or RFC 3339 in UTC in quotes with the nanoseconds' trailing zeros
// left out.
func timeLen(t time.Time) int {
	if t.IsZero() {
		return len("null")
	}
	n := len(`"2006-01-02T15:04:05Z"`)
	if ns := t.Nanosecond(); ns != 0 {
		digits := 9
		for ns%10 == 0 {
			ns /= 10
			digits--
		}
		n += 1 + digits // the point and the digits
	}
	return n
}

// AppendJSONTail closes a record opened by AppendJSONHead with the
// computed fields: stale, changed_files_count and the desired ones.
func AppendJSONTail(dst []byte, stale bool, changedFiles int, d Desired) []byte {
	return append(appendDesired(appendCounts(dst, stale, changedFiles), d), '}')
}

func appendCounts(dst []byte, stale bool, changedFiles int) []byte {
	if stale {
		dst = append(dst, `,"stale":true,"changed_files_count":`...)
	} else {
		dst = append(dst, `,"stale":false,"changed_files_count":`...)
	}
	return strconv.AppendInt(dst, int64(changedFiles), 10)
}

// noDesired is appendDesired of the zero Desired: most records of most
// fleets, written without formatting anything.
const noDesired = `,"desired_commit_sha":"","behind":false,"behind_since":null`

// appendDesired appends the desired fields of a record's tail.
func appendDesired(dst []byte, d Desired) []byte {
	if d == (Desired{}) {
		return append(dst, noDesired...)
	}
	dst = appendKeyString(dst, `,"desired_commit_sha":`, d.CommitSHA)
	if d.Behind {
		dst = append(dst, `,"behind":true`...)
	} else {
		dst = append(dst, `,"behind":false`...)
	}
	return appendKeyTime(dst, `,"behind_since":`, d.BehindSince)
}

func appendKeyString(dst []byte, key, s string) []byte {
	return appendString(append(dst, key...), s)
}

func appendKeyTime(dst []byte, key string, t time.Time) []byte {
	dst = append(dst, key...)
	if t.IsZero() {
		return append(dst, "null"...)
	}
	dst = append(dst, '"')
	dst = t.UTC().AppendFormat(dst, time.RFC3339Nano)
	return append(dst, '"')
}

// AppendJSONString appends s as a JSON string, escaped byte for byte as
// encoding/json escapes it, for adapters that write JSON around records
// (such as a response's "warnings") without reflection.
func AppendJSONString(dst []byte, s string) []byte { return appendString(dst, s) }

// AppendJSONStrings appends l as encoding/json writes a []string, except
// that nil is [] too, as records keep changed_files.
func AppendJSONStrings(dst []byte, l []string) []byte {
	dst = append(dst, '[')
	for i, f := range l {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendString(dst, f)
	}
	return append(dst, ']')
}

// AppendJSONLabels appends m as encoding/json writes a map[string]string
// (keys in byte order), except that nil is {} too, as records keep labels.
func AppendJSONLabels(dst []byte, m map[string]string) []byte {
	dst = append(dst, '{')
	if len(m) > 0 {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for i, k := range keys {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendString(dst, k)
			dst = append(dst, ':')
			dst = appendString(dst, m[k])
		}
	}
	return append(dst, '}')
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string escaped as encoding/json escapes
// it (HTML-safe, invalid UTF-8 replaced), so both encoders agree byte for
// byte.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' && b != '<' && b != '>' && b != '&' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '"', '\\':
				dst = append(dst, '\\', b)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
