package load

import (
	"context"
	"testing"
	"time"
)

// slowFirst answers its first call after first, and every later one at
// once.
type slowFirst struct {
	first time.Duration
	calls int
}

func (c *slowFirst) Do(ctx context.Context, id int64, req []byte) ([]byte, error) {
	c.calls++
	if c.calls == 1 {
		select {
		case <-time.After(c.first):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return []byte(`{}`), nil
}

func (c *slowFirst) Notify(context.Context, []byte) error { return nil }
func (c *slowFirst) Close() error                         { return nil }

// A first call that outlasts the warm-up and the measured time (one-time
// work, as a first tools/list) moves the measured time after it, so a
// short run still measures the calls that follow.
func TestMeasuredTimeStartsAfterTheFirstCall(t *testing.T) {
	c := &slowFirst{first: 300 * time.Millisecond}
	w := Workload{Request: func(int64) []byte { return []byte(`{}`) }, Check: func(int64, []byte) error { return nil }}
	res, err := Run(context.Background(), c, w, Options{InFlight: 1, Warmup: 50 * time.Millisecond, Duration: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if res.Calls == 0 || res.Calls >= res.Total {
		t.Errorf("%d calls measured of %d made; want the calls after the first, not the first", res.Calls, res.Total)
	}
	if res.WallTime < 400*time.Millisecond {
		t.Errorf("the run took %v; want the first call's 300ms and the measured 100ms", res.WallTime)
	}
}
