package jsonrpc

// AppendIDKey appends IDKey(raw) to dst. The ids clients actually send,
// small non-negative integers, are keyed without converting through a
// float64 (and without allocating): a table lookup can key a stack buffer
// with it, string(key) in the index expression, instead of a new string
// per lookup. Every other id goes through IDKey.
func AppendIDKey(dst, raw []byte) []byte {
	if smallInt(raw) {
		dst = append(dst, 'n')
		return append(dst, raw...)
	}
	return append(dst, IDKey(raw)...)
}

// smallInt reports whether raw is a JSON integer below 1e6 written without
// sign, exponent or leading zeros: the float64 key of such a number is its
// own digits ('g' format switches to an exponent from 1e6 on).
func smallInt(raw []byte) bool {
	if len(raw) == 0 || len(raw) > 6 || (raw[0] == '0' && len(raw) > 1) {
		return false
	}
	for _, c := range raw {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
