package gateway

import (
	"math/rand/v2"
	"testing"
)

// TestSeqTableIsAMap: any sequence of puts and deletes leaves a seqTable
// holding what a map holds, keys in sequence or not, colliding or not.
func TestSeqTableIsAMap(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var tab seqTable[int]
	want := map[int64]int{}
	next := int64(0)
	for i := range 20000 {
		var k int64
		switch r.IntN(4) {
		case 0: // a new key in sequence
			next++
			k = next
		case 1: // any key, often colliding in the ring
			k = int64(r.IntN(300)) - 20
		default: // a key held
			for hk := range want {
				k = hk
				break
			}
		}
		if r.IntN(3) == 0 {
			tab.del(k)
			delete(want, k)
		} else {
			tab.put(k, i)
			want[k] = i
		}
		w, wok := want[k]
		if v, ok := tab.get(k); ok != wok || v != w {
			t.Fatalf("step %d: get(%d) = %d %v, want %d %v", i, k, v, ok, w, wok)
		}
	}
	if tab.len() != len(want) {
		t.Fatalf("len %d, want %d", tab.len(), len(want))
	}
	seen := 0
	tab.each(func(k int64, v int) {
		seen++
		if w, ok := want[k]; !ok || w != v {
			t.Errorf("each: %d=%d, want %d %v", k, v, w, ok)
		}
		tab.del(k)
	})
	if seen != len(want) || tab.len() != 0 {
		t.Errorf("each saw %d of %d; %d left after deleting them all", seen, len(want), tab.len())
	}
	for k := range want {
		if _, ok := tab.get(k); ok {
			t.Errorf("%d still there", k)
		}
	}
}

// TestSeqTableInSequenceDoesNotAllocate: keys in sequence, few in flight,
// as a session's calls are.
func TestSeqTableInSequenceDoesNotAllocate(t *testing.T) {
	var tab seqTable[*call]
	c := &call{}
	k := int64(0)
	if n := testing.AllocsPerRun(1000, func() {
		k++
		tab.put(k, c)
		if k > 16 {
			tab.del(k - 16)
		}
	}); n != 0 {
		t.Errorf("%v allocations", n)
	}
}
