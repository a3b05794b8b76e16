package gateway

import "github.com/tollgate-mcp/tollgate/internal/jsonrpc"

// clientKey is how a client's request id is kept in clientIDs: a small
// non-negative integer (the ids most clients send) as its value, without
// building a string; any other id by its jsonrpc.IDKey. Every spelling of
// one id gives one key, as IDKey does (1, 1.0 and 1e0 are one id).
type clientKey struct {
	num   int64
	str   string
	isNum bool
}

// keyOfClient returns the key of the client's id raw.
func keyOfClient(raw []byte) clientKey {
	if n, ok := smallID(raw); ok {
		return clientKey{num: n, isNum: true}
	}
	k := jsonrpc.IDKey(raw)
	if len(k) > 1 && k[0] == 'n' {
		if n, ok := smallID(k[1:]); ok {
			return clientKey{num: n, isNum: true}
		}
	}
	return clientKey{str: k}
}

// smallID reads digits without a leading zero (or "0"), at most 15 of
// them: an integer id as IDKey spells it.
func smallID[T string | []byte](s T) (int64, bool) {
	if len(s) == 0 || len(s) > 15 || (s[0] == '0' && len(s) > 1) {
		return 0, false
	}
	var n int64
	for i := range len(s) {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// clientIDs maps the ids of the client's requests in flight to the
// gateway's ids for them. It is guarded by session.mu.
type clientIDs struct {
	nums seqTable[int64]
	strs map[string]int64
}

func newClientIDs() clientIDs {
	return clientIDs{strs: map[string]int64{}}
}

func (c *clientIDs) get(k clientKey) (gid int64, ok bool) {
	if k.isNum {
		gid, ok = c.nums.get(k.num)
	} else {
		gid, ok = c.strs[k.str]
	}
	return gid, ok
}

func (c *clientIDs) put(k clientKey, gid int64) {
	if k.isNum {
		c.nums.put(k.num, gid)
	} else {
		c.strs[k.str] = gid
	}
}

func (c *clientIDs) drop(k clientKey) {
	if k.isNum {
		c.nums.del(k.num)
	} else {
		delete(c.strs, k.str)
	}
}
