package index

// The reader of the JSON a head holds: what DecodeHead and EntryFromHead
// step through a head with.

import (
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// headDecoder reads the JSON AppendJSONHead writes: no whitespace, strings,
// null, arrays of strings and objects of strings.
type headDecoder struct {
	in  string
	pos int
}

func (d *headDecoder) eat(c byte) bool {
	if d.pos < len(d.in) && d.in[d.pos] == c {
		d.pos++
		return true
	}
	return false
}

func strAs[T ~string](d *headDecoder) (T, bool) {
	s, ok := d.str()
	return T(s), ok
}

// str reads a JSON string.
func (d *headDecoder) str() (string, bool) {
	if !d.eat('"') {
		return "", false
	}
	start := d.pos
	for i := start; i < len(d.in); i++ {
		switch c := d.in[i]; {
		case c == '"':
			d.pos = i + 1
			return d.in[start:i], true
		case c == '\\':
			return d.escaped(start, i)
		case c < 0x20:
			return "", false
		}
	}
	return "", false
}

// escaped finishes a string that has an escape at i.
func (d *headDecoder) escaped(start, i int) (string, bool) {
	var b strings.Builder
	b.WriteString(d.in[start:i])
	for i < len(d.in) {
		c := d.in[i]
		switch {
		case c == '"':
			d.pos = i + 1
			return b.String(), true
		case c < 0x20:
			return "", false
		case c != '\\':
			b.WriteByte(c)
			i++
			continue
		}
		if i+1 >= len(d.in) {
			return "", false
		}
		switch e := d.in[i+1]; e {
		case '"', '\\', '/':
			b.WriteByte(e)
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case 'u':
			r, ok := hex4(d.in, i+2)
			if !ok {
				return "", false
			}
			i += 6
			if utf16.IsSurrogate(r) {
				r2, ok := rune(0), false
				if i+1 < len(d.in) && d.in[i] == '\\' && d.in[i+1] == 'u' {
					r2, ok = hex4(d.in, i+2)
				}
				if dec := utf16.DecodeRune(r, r2); ok && dec != utf8.RuneError {
					r = dec
					i += 6
				} else {
					r = utf8.RuneError
				}
			}
			b.WriteRune(r)
			continue
		default:
			return "", false
		}
		i += 2
	}
	return "", false
}

func hex4(s string, at int) (rune, bool) {
	if at+4 > len(s) {
		return 0, false
	}
	v, err := strconv.ParseUint(s[at:at+4], 16, 16)
	return rune(v), err == nil
}

// time reads null or a time as AppendJSONHead writes it (RFC 3339 in UTC).
func (d *headDecoder) time() (time.Time, bool) {
	if strings.HasPrefix(d.in[d.pos:], "null") {
		d.pos += 4
		return time.Time{}, true
	}
	s, ok := d.str()
	if !ok {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil || t.IsZero() {
		return time.Time{}, false
	}
	return t.UTC(), true
}

func (d *headDecoder) strList() ([]string, bool) {
	if !d.eat('[') {
		return nil, false
	}
	l := []string{}
	if d.eat(']') {
		return l, true
	}
	for {
		s, ok := d.str()
		if !ok {
			return nil, false
		}
		l = append(l, s)
		if d.eat(']') {
			return l, true
		}
		if !d.eat(',') {
			return nil, false
		}
	}
}

func (d *headDecoder) strMap() (map[string]string, bool) {
	if !d.eat('{') {
		return nil, false
	}
	m := map[string]string{}
	if d.eat('}') {
		return m, true
	}
	for {
		k, ok := d.str()
		if !ok || !d.eat(':') {
			return nil, false
		}
		v, ok := d.str()
		if !ok {
			return nil, false
		}
		m[k] = v
		if d.eat('}') {
			return m, true
		}
		if !d.eat(',') {
			return nil, false
		}
	}
}

// skipStr passes over a string without building it.
func (d *headDecoder) skipStr() bool {
	if !d.eat('"') {
		return false
	}
	for i := d.pos; i < len(d.in); i++ {
		switch d.in[i] {
		case '"':
			d.pos = i + 1
			return true
		case '\\':
			i++ // the escaped byte; \u's digits pass as ordinary bytes
		}
	}
	return false
}

// skip passes over a value a head holds: null, a string, an array of
// strings or an object of strings.
func (d *headDecoder) skip() bool {
	if d.pos >= len(d.in) {
		return false
	}
	switch d.in[d.pos] {
	case 'n':
		if strings.HasPrefix(d.in[d.pos:], "null") {
			d.pos += 4
			return true
		}
		return false
	case '"':
		return d.skipStr()
	case '[':
		_, ok := d.countList()
		return ok
	case '{':
		d.pos++
		if d.eat('}') {
			return true
		}
		for {
			if !d.skipStr() || !d.eat(':') || !d.skipStr() {
				return false
			}
			if d.eat('}') {
				return true
			}
			if !d.eat(',') {
				return false
			}
		}
	}
	return false
}

// countList passes over an array of strings and counts them.
func (d *headDecoder) countList() (int, bool) {
	if !d.eat('[') {
		return 0, false
	}
	if d.eat(']') {
		return 0, true
	}
	for n := 1; ; n++ {
		if !d.skipStr() {
			return 0, false
		}
		if d.eat(']') {
			return n, true
		}
		if !d.eat(',') {
			return 0, false
		}
	}
}
