package load

import (
	"math/bits"
	"time"
)

// subBits sets the histogram's precision: 2^subBits buckets per power of two,
// so a recorded value is known to within 1/128 (0.8%).
const subBits = 7

const (
	subCount = 1 << subBits
	nBuckets = (64-subBits)*subCount + 2*subCount
)

// Histogram records durations in log-linear buckets: fixed memory, constant
// time per value, and quantiles within 0.8% of the exact ones. The zero
// value is ready to use. It is not safe for concurrent use: give each
// goroutine its own and Merge them.
type Histogram struct {
	counts [nBuckets]uint64
	n      uint64
	sum    time.Duration
	max    time.Duration
}

func bucket(v uint64) int {
	shift := bits.Len64(v) - (subBits + 1)
	if shift <= 0 {
		return int(v)
	}
	return shift*subCount + int(v>>uint(shift))
}

// lowest returns the smallest value bucket i holds and the bucket's width.
func lowest(i int) (lo, width uint64) {
	if i < 2*subCount {
		return uint64(i), 1
	}
	shift := i/subCount - 1
	mant := uint64(i - shift*subCount)
	return mant << uint(shift), 1 << uint(shift)
}

// Record adds one duration.
func (h *Histogram) Record(d time.Duration) {
	if d < 0 {
		d = 0
	}
	h.counts[bucket(uint64(d))]++
	h.n++
	h.sum += d
	if d > h.max {
		h.max = d
	}
}

// Merge adds every value recorded in o.
func (h *Histogram) Merge(o *Histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.sum += o.sum
	if o.max > h.max {
		h.max = o.max
	}
}

// Count is the number of values recorded.
func (h *Histogram) Count() uint64 { return h.n }

// Mean is the mean of the values recorded, 0 when there are none.
func (h *Histogram) Mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return h.sum / time.Duration(h.n)
}

// Max is the largest value recorded.
func (h *Histogram) Max() time.Duration { return h.max }

// Quantile returns the value below which a fraction q (0…1) of the recorded
// values lie: the middle of the bucket holding the rank ceil(q·n), 0 when
// nothing was recorded.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(q*float64(h.n) + 0.999999)
	if rank < 1 {
		rank = 1
	}
	if rank > h.n {
		rank = h.n
	}
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			lo, w := lowest(i)
			v := time.Duration(lo + w/2)
			if v > h.max {
				v = h.max
			}
			return v
		}
	}
	return h.max
}
