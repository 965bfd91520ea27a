package rowargs

import (
	"reflect"
	"testing"
)

func TestAppend(t *testing.T) {
	args := []any{"g", "h", "a", int64(1), nil, "head"}
	if got, want := Set(1<<2|1<<5).Append([]any{"x"}, args), []any{"x", "a", "head"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Append = %v, want %v", got, want)
	}
}
