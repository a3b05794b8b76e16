package stdio

import (
	"context"
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
