// Package rowargs is what both stores share to write only the columns an
// update changed. A row write's arguments are a slice with one value per
// column, in a fixed order that starts with the key (server_group, host)
// and ends with the record's head; a Set names some of them by position.
package rowargs

// Set is a set of a row write's arguments by position: bit i is argument
// i. A set of changed arguments never holds the key (positions 0 and 1).
type Set uint32

// Append appends to dst the arguments of args that are in s, in order.
func (s Set) Append(dst, args []any) []any {
	for i := range args {
		if s&(1<<i) != 0 {
			dst = append(dst, args[i])
		}
	}
	return dst
}
