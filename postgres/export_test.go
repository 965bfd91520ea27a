package postgres

// RefreshedRows is how many server rows s's refreshes have read back.
func RefreshedRows(s *Store) int64 { return s.cache.rowsRead.Load() }

// SetMaxPendingRows bounds the rows of own commits a store keeps for its
// refreshes (see own.go) until the returned function restores the bound.
func SetMaxPendingRows(n int) (restore func()) {
	old := maxPendingRows
	maxPendingRows = n
	return func() { maxPendingRows = old }
}
