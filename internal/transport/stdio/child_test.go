package stdio

import (
	"context"
	"errors"
	"io"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Stop escalates: a child that ignores the end of its input and SIGTERM is
// killed, with its whole process group.
func TestStopEscalatesToKill(t *testing.T) {
	c, err := StartChild(context.Background(), []string{"sh", "-c", `trap "" TERM; sleep 30 & wait`}, ChildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	c.Stop(100 * time.Millisecond)
	if code := c.ExitCode(); code != 128+9 {
		t.Errorf("exit code %d, want 137 (SIGKILL)", code)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Stop took %v", d)
	}
}

// A well-behaved server exits when its input ends; Stop then needs no signal.
func TestStopClosesInputFirst(t *testing.T) {
	c, err := StartChild(context.Background(), []string{"sh", "-c", "cat >/dev/null; exit 3"}, ChildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c.Stop(5 * time.Second)
	if code := c.ExitCode(); code != 3 {
		t.Errorf("exit code %d, want 3", code)
	}
}

func TestStartChildMissingCommand(t *testing.T) {
	if _, err := StartChild(context.Background(), []string{"/nonexistent/server"}, ChildOptions{}); err == nil {
		t.Error("started a command that does not exist")
	}
	if _, err := StartChild(context.Background(), nil, ChildOptions{}); err == nil {
		t.Error("started an empty command")
	}
}

// A server that exits when its input ends but leaves a grandchild behind
// (holding its stdout) does not keep that grandchild: Stop ends what is
// left of the process group, and the child's stdout then reaches its end.
func TestStopEndsLeftoverGrandchild(t *testing.T) {
	c, err := StartChild(context.Background(), []string{"sh", "-c", `sleep 300 & echo "$!"; cat >/dev/null; exit 4`}, ChildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	line, err := c.Conn().Read()
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(string(line))
	if err != nil {
		t.Fatalf("grandchild pid %q: %v", line, err)
	}
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
	c.Stop(5 * time.Second)
	if code := c.ExitCode(); code != 4 {
		t.Errorf("exit code %d, want 4", code)
	}
	// The grandchild held the pipe: its end comes only once it has gone.
	if _, err := c.Conn().Read(); !errors.Is(err, io.EOF) {
		t.Errorf("read after Stop: %v, want EOF", err)
	}
}

// InputClosed tells when the session has closed the child's stdin, which
// is how the end of the client's input reaches the child.
func TestInputClosed(t *testing.T) {
	c, err := StartChild(context.Background(), []string{"sh", "-c", "cat >/dev/null"}, ChildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop(StopGrace)
	select {
	case <-c.InputClosed():
		t.Fatal("input closed before anyone closed it")
	default:
	}
	if err := c.Conn().CloseWrite(); err != nil {
		t.Fatal(err)
	}
	<-c.InputClosed()
	if err := c.Conn().CloseWrite(); err != nil {
		t.Errorf("second CloseWrite: %v", err)
	}
	<-c.Done()
}

// Concurrent Stops all return once the child is gone; Kill cuts a careful
// stop short.
func TestConcurrentStopAndKill(t *testing.T) {
	c, err := StartChild(context.Background(), []string{"sh", "-c", `trap "" TERM; while :; do sleep 1; done`}, ChildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() { c.Stop(time.Hour) })
	}
	<-c.InputClosed() // a Stop is under way
	c.Kill()
	wg.Wait()
	if code := c.ExitCode(); code != 128+9 {
		t.Errorf("exit code %d, want 137", code)
	}
}
