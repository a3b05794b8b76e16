package mcptest

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// fatalTB records Fatalf and ends the goroutine, as testing.T does.
type fatalTB struct {
	testing.TB
	msg string
}

func (f *fatalTB) Helper() {}

func (f *fatalTB) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// run calls Eventually on a fatalTB in its own goroutine and returns the
// failure message ("" when it returned normally).
func runEventually(timeout time.Duration, cond func() bool) string {
	f := &fatalTB{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		Eventually(f, timeout, cond, "the thing")
	}()
	<-done
	return f.msg
}

func TestEventually(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var calls atomic.Int64
		start := time.Now()
		msg := runEventually(time.Second, func() bool { return calls.Add(1) == 5 })
		if msg != "" {
			t.Fatalf("failed: %s", msg)
		}
		if calls.Load() != 5 {
			t.Errorf("cond called %d times, want 5 (it stops once true)", calls.Load())
		}
		if waited := time.Since(start); waited >= time.Second {
			t.Errorf("returned after %v, not as soon as cond held", waited)
		}

		start = time.Now()
		msg = runEventually(time.Second, func() bool { return false })
		if want := "gave up after 1s waiting for the thing"; msg != want {
			t.Errorf("failure %q, want %q", msg, want)
		}
		if waited := time.Since(start); waited != time.Second {
			t.Errorf("gave up after %v, want 1s", waited)
		}

		calls.Store(0)
		if msg := runEventually(0, func() bool { return calls.Add(1) == 1 }); msg != "" {
			t.Errorf("a condition already true failed: %s", msg)
		}
	})
}
