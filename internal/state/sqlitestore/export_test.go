package sqlitestore

// Batches is how many batches s has applied (transactions, tried or not).
// Read it only when no caller is inside s.
func Batches(s *Store) int { return s.w.batches }
