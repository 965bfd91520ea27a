package rowargs

import (
	"reflect"
	"testing"
)

func equal(a, b any) bool { return a == b }

func TestChanged(t *testing.T) {
	before := []any{"g", "h", "a", int64(1), nil}
	for _, tc := range []struct {
		name  string
		after []any
		want  Set
	}{
		{"only the head", []any{"g", "h", "a", int64(1), nil, []byte("{}")}, 1 << 5},
		{"a string", []any{"g", "h", "b", int64(1), nil, []byte("{}")}, 1<<2 | 1<<5},
		{"a value set", []any{"g", "h", "a", int64(1), int64(7), []byte("{}")}, 1<<4 | 1<<5},
		{"a value cleared", []any{"g", "h", "a", nil, nil, []byte("{}")}, 1<<3 | 1<<5},
		{"another key", []any{"x", "y", "a", int64(1), nil, []byte("{}")}, 1 << 5},
	} {
		if got := Changed(before, tc.after, equal); got != tc.want {
			t.Errorf("%s: Changed = %b, want %b", tc.name, got, tc.want)
		}
	}
}

func TestAppend(t *testing.T) {
	args := []any{"g", "h", "a", int64(1), nil, "head"}
	if got, want := Set(1<<2|1<<5).Append([]any{"x"}, args), []any{"x", "a", "head"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Append = %v, want %v", got, want)
	}
}
