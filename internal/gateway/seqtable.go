package gateway

// seqTable maps int64 keys that mostly come in sequence and leave soon
// (the ids of requests in flight) to values: a key's slot in a ring holds
// it when free, and a map the rest, so that the common case is an index,
// not a hash table's insert and delete. Not safe for concurrent use.
type seqTable[V any] struct {
	ring [seqRing]seqSlot[V]
	more map[int64]V // keys whose slot was taken
	n    int
}

const seqRing = 64 // a power of two

type seqSlot[V any] struct {
	key  int64
	used bool
	v    V
}

func (t *seqTable[V]) slot(k int64) *seqSlot[V] { return &t.ring[uint64(k)&(seqRing-1)] }

// get returns k's value.
func (t *seqTable[V]) get(k int64) (v V, ok bool) {
	if s := t.slot(k); s.used && s.key == k {
		return s.v, true
	}
	if len(t.more) == 0 {
		return v, false
	}
	v, ok = t.more[k]
	return v, ok
}

// put sets k's value.
func (t *seqTable[V]) put(k int64, v V) {
	s := t.slot(k)
	switch {
	case s.used && s.key == k:
		s.v = v
		return
	case !s.used:
		if _, had := t.more[k]; !had {
			*s = seqSlot[V]{key: k, used: true, v: v}
			t.n++
			return
		}
	}
	if t.more == nil {
		t.more = map[int64]V{}
	}
	if _, had := t.more[k]; !had {
		t.n++
	}
	t.more[k] = v
}

// del removes k.
func (t *seqTable[V]) del(k int64) {
	if s := t.slot(k); s.used && s.key == k {
		*s = seqSlot[V]{}
		t.n--
		return
	}
	if _, had := t.more[k]; had {
		delete(t.more, k)
		t.n--
	}
}

// len returns the number of keys.
func (t *seqTable[V]) len() int { return t.n }

// each calls f with every key and value; f may delete the key it is given.
func (t *seqTable[V]) each(f func(k int64, v V)) {
	for i := range t.ring {
		if s := &t.ring[i]; s.used {
			f(s.key, s.v)
		}
	}
	for k, v := range t.more {
		f(k, v)
	}
}
