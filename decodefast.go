package gitops

import (
	"encoding/json"
	"unicode/utf8"
)

// The request decoders read every body into an object and then each field
// out of it. Through encoding/json alone that costs about 10 µs and a
// hundred allocations per pipeline report, most of it reflection, on the
// path every deployment takes. Nearly every body is plain: an object of
// strings, lists of strings and a label map, no escapes. So decodeObject
// first splits the body in one validating pass (scanObject) and the field
// readers take plain strings, lists and maps straight from the bytes.
// Anything else (a syntax error, an escaped or non-ASCII key, an escape or
// invalid UTF-8 in a value, a wrong type, deep nesting) takes the
// encoding/json path as before, so every value read and every error message
// is the one encoding/json gives: the fast path only ever answers when
// encoding/json would have answered the same.

// maxScanDepth bounds the nesting scanObject follows; deeper bodies are
// left to encoding/json.
const maxScanDepth = 64

// scanField is one member of an object found by scanObject.
type scanField struct {
	key        []byte
	start, end int
}

// scanObject splits data, which must be exactly one JSON object with
// optional surrounding whitespace, into its members. It is at least as
// strict as encoding/json: when ok is true, json.Unmarshal into an object
// succeeds and gives the same map (the last of duplicate keys wins); when
// it is false, nothing is known and the caller asks encoding/json. The raw
// values alias data.
func scanObject(data []byte) (o object, ok bool) {
	var stack [32]scanField
	fields := stack[:0]
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		return nil, false
	}
	i = skipSpace(data, i+1)
	if i < len(data) && data[i] == '}' {
		i++
	} else {
		for {
			if i >= len(data) || data[i] != '"' {
				return nil, false
			}
			kend, flags, ok := scanString(data, i)
			if !ok || flags != 0 {
				return nil, false // an escaped or non-ASCII key: let encoding/json unescape it
			}
			key := data[i+1 : kend-1]
			i = skipSpace(data, kend)
			if i >= len(data) || data[i] != ':' {
				return nil, false
			}
			i = skipSpace(data, i+1)
			vend, ok := scanValue(data, i, 1)
			if !ok {
				return nil, false
			}
			fields = append(fields, scanField{key: key, start: i, end: vend})
			i = skipSpace(data, vend)
			if i >= len(data) {
				return nil, false
			}
			if data[i] == '}' {
				i++
				break
			}
			if data[i] != ',' {
				return nil, false
			}
			i = skipSpace(data, i+1)
		}
	}
	if skipSpace(data, i) != len(data) {
		return nil, false // trailing data
	}
	o = make(object, len(fields))
	for _, f := range fields {
		o[fieldName(f.key)] = json.RawMessage(data[f.start:f.end:f.end])
	}
	return o, true
}

// fieldName returns key as a string, without allocating for the field
// names the decoders know.
func fieldName(key []byte) string {
	switch string(key) {
	case "server_group":
		return "server_group"
	case "host":
		return "host"
	case "status":
		return "status"
	case "project_name":
		return "project_name"
	case "repo_name":
		return "repo_name"
	case "server_type":
		return "server_type"
	case "environment":
		return "environment"
	case "changed_files":
		return "changed_files"
	case "validation_status":
		return "validation_status"
	case "validation_message":
		return "validation_message"
	case "commit_sha":
		return "commit_sha"
	case "branch":
		return "branch"
	case "updated_by":
		return "updated_by"
	case "labels":
		return "labels"
	case "stale_after":
		return "stale_after"
	case "reported_at":
		return "reported_at"
	case "last_pipeline_run":
		return "last_pipeline_run"
	case "last_cron_check":
		return "last_cron_check"
	}
	return string(key)
}

func skipSpace(data []byte, i int) int {
	for i < len(data) {
		switch data[i] {
		case ' ', '\t', '\r', '\n':
			i++
		default:
			return i
		}
	}
	return i
}

// String flags scanString reports.
const (
	strEscaped  = 1 << iota // holds a backslash escape
	strNonASCII             // holds a byte >= 0x80
)

// scanString scans the JSON string starting at data[i] == '"' and returns
// the index after its closing quote.
func scanString(data []byte, i int) (end int, flags int, ok bool) {
	for i++; i < len(data); i++ {
		c := data[i]
		switch {
		case c == '"':
			return i + 1, flags, true
		case c == '\\':
			flags |= strEscaped
			i++
			if i >= len(data) {
				return 0, 0, false
			}
			switch data[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if i+4 >= len(data) {
					return 0, 0, false
				}
				for _, h := range data[i+1 : i+5] {
					if !('0' <= h && h <= '9' || 'a' <= h && h <= 'f' || 'A' <= h && h <= 'F') {
						return 0, 0, false
					}
				}
				i += 4
			default:
				return 0, 0, false
			}
		case c < 0x20:
			return 0, 0, false
		case c >= utf8.RuneSelf:
			flags |= strNonASCII
		}
	}
	return 0, 0, false
}

// scanValue scans the JSON value starting at data[i] and returns the index
// after it.
func scanValue(data []byte, i, depth int) (int, bool) {
	if i >= len(data) {
		return 0, false
	}
	switch c := data[i]; {
	case c == '"':
		end, _, ok := scanString(data, i)
		return end, ok
	case c == '{':
		return scanComposite(data, i, depth, '}')
	case c == '[':
		return scanComposite(data, i, depth, ']')
	case c == 't':
		return scanLiteral(data, i, "true")
	case c == 'f':
		return scanLiteral(data, i, "false")
	case c == 'n':
		return scanLiteral(data, i, "null")
	case c == '-' || '0' <= c && c <= '9':
		return scanNumber(data, i)
	}
	return 0, false
}

func scanLiteral(data []byte, i int, lit string) (int, bool) {
	if len(data)-i < len(lit) || string(data[i:i+len(lit)]) != lit {
		return 0, false
	}
	return i + len(lit), true
}

// scanNumber scans -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?; what
// follows is checked by the caller.
func scanNumber(data []byte, i int) (int, bool) {
	if data[i] == '-' {
		i++
	}
	if i >= len(data) {
		return 0, false
	}
	switch {
	case data[i] == '0':
		i++
	case '1' <= data[i] && data[i] <= '9':
		i = skipDigits(data, i+1)
	default:
		return 0, false
	}
	if i < len(data) && data[i] == '.' {
		j := skipDigits(data, i+1)
		if j == i+1 {
			return 0, false
		}
		i = j
	}
	if i < len(data) && (data[i] == 'e' || data[i] == 'E') {
		i++
		if i < len(data) && (data[i] == '+' || data[i] == '-') {
			i++
		}
		j := skipDigits(data, i)
		if j == i {
			return 0, false
		}
		i = j
	}
	return i, true
}

func skipDigits(data []byte, i int) int {
	for i < len(data) && '0' <= data[i] && data[i] <= '9' {
		i++
	}
	return i
}

// scanComposite scans the object or array starting at data[i] and returns
// the index after its closing bracket.
func scanComposite(data []byte, i, depth int, closing byte) (int, bool) {
	if depth >= maxScanDepth {
		return 0, false
	}
	i = skipSpace(data, i+1)
	if i < len(data) && data[i] == closing {
		return i + 1, true
	}
	for {
		if closing == '}' {
			if i >= len(data) || data[i] != '"' {
				return 0, false
			}
			end, _, ok := scanString(data, i)
			if !ok {
				return 0, false
			}
			i = skipSpace(data, end)
			if i >= len(data) || data[i] != ':' {
				return 0, false
			}
			i = skipSpace(data, i+1)
		}
		end, ok := scanValue(data, i, depth+1)
		if !ok {
			return 0, false
		}
		i = skipSpace(data, end)
		if i >= len(data) {
			return 0, false
		}
		if data[i] == closing {
			return i + 1, true
		}
		if data[i] != ',' {
			return 0, false
		}
		i = skipSpace(data, i+1)
	}
}

// plainString returns the string the JSON value raw holds when it is a
// string that needs no unescaping and is valid UTF-8, so that its bytes
// are its value.
func plainString(raw []byte) (string, bool) {
	if len(raw) < 2 || raw[0] != '"' {
		return "", false
	}
	end, flags, ok := scanString(raw, 0)
	if !ok || end != len(raw) || !plainFlags(flags, raw[1:end-1]) {
		return "", false
	}
	return string(raw[1 : end-1]), true
}

// plainFlags reports whether a string scanned with flags has its bytes as
// its value.
func plainFlags(flags int, content []byte) bool {
	return flags&strEscaped == 0 && (flags&strNonASCII == 0 || utf8.Valid(content))
}

// plainStrings returns the items of the JSON array raw when every item is
// a plain string (see plainString). The items share one allocation.
func plainStrings(raw []byte) ([]string, bool) {
	if len(raw) < 2 || raw[0] != '[' {
		return nil, false
	}
	n, ok := eachPlainItem(raw, nil)
	if !ok {
		return nil, false
	}
	l := make([]string, 0, n)
	if n == 0 {
		return l, true
	}
	all := string(raw)
	eachPlainItem(raw, func(_, v [2]int) { l = append(l, all[v[0]:v[1]]) })
	return l, true
}

// plainStringMap returns the members of the JSON object raw when every key
// is a plain, non-empty string and every value a plain string. Keys and
// values share one allocation.
func plainStringMap(raw []byte) (map[string]string, bool) {
	if len(raw) < 2 || raw[0] != '{' {
		return nil, false
	}
	n, ok := eachPlainItem(raw, nil)
	if !ok {
		return nil, false
	}
	m := make(map[string]string, n)
	if n == 0 {
		return m, true
	}
	all := string(raw)
	eachPlainItem(raw, func(k, v [2]int) { m[all[k[0]:k[1]]] = all[v[0]:v[1]] })
	return m, true
}

// eachPlainItem walks the JSON array or object raw (valid JSON) and calls
// fn, when not nil, with the content bounds of each plain string item and,
// for objects, of its non-empty plain key. It reports the number of items,
// and false as soon as one is not plain.
func eachPlainItem(raw []byte, fn func(key, value [2]int)) (int, bool) {
	closing := byte(']')
	if raw[0] == '{' {
		closing = '}'
	}
	n := 0
	i := skipSpace(raw, 1)
	if i < len(raw) && raw[i] == closing {
		return 0, i+1 == len(raw)
	}
	str := func() ([2]int, bool) {
		if i >= len(raw) || raw[i] != '"' {
			return [2]int{}, false
		}
		end, flags, ok := scanString(raw, i)
		if !ok || !plainFlags(flags, raw[i+1:end-1]) {
			return [2]int{}, false
		}
		b := [2]int{i + 1, end - 1}
		i = skipSpace(raw, end)
		return b, true
	}
	for {
		var k, v [2]int
		var ok bool
		if closing == '}' {
			if k, ok = str(); !ok || k[0] == k[1] || i >= len(raw) || raw[i] != ':' {
				return 0, false
			}
			i = skipSpace(raw, i+1)
		}
		if v, ok = str(); !ok || i >= len(raw) {
			return 0, false
		}
		n++
		if fn != nil {
			fn(k, v)
		}
		switch raw[i] {
		case closing:
			return n, i+1 == len(raw)
		case ',':
			i = skipSpace(raw, i+1)
		default:
			return 0, false
		}
	}
}
