package mcptest

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// Redis returns the URL of a real Redis for this test. With
// TOLLGATE_TEST_REDIS_URL set it returns that URL and starts nothing (the
// tests then share that server: use distinct key prefixes). Otherwise it
// starts `redis-server` on a free 127.0.0.1 port with persistence off
// (--save "" --appendonly no) in a temporary directory, waits until it
// answers PING, and stops it when the test ends; the URL is
// redis://127.0.0.1:PORT/0. A missing redis-server skips the test, or fails
// it under TOLLGATE_REQUIRE_PEERS=1; a server that does not come up always
// fails it.
func Redis(tb testing.TB) string {
	tb.Helper()
	if url := os.Getenv(EnvRedisURL); url != "" {
		return url
	}
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		missing(tb, "redis-server not installed: run scripts/test.sh (apt-get install redis-server)")
	}
	port := FreePort(tb)
	argv := []string{bin,
		"--port", strconv.Itoa(port),
		"--bind", "127.0.0.1",
		"--save", "",
		"--appendonly", "no",
		"--dir", tb.TempDir(),
		"--daemonize", "no",
		"--logfile", "",
	}
	p := startProcess(tb, "redis-server", argv, nil)
	addr := hostPort(port)
	p.waitReady(tb, func(ctx context.Context) error { return ping(ctx, addr) })
	return "redis://" + addr + "/0"
}

// ping sends one inline PING and wants +PONG: a listening socket is not yet a
// Redis that has loaded and accepts commands.
func ping(ctx context.Context, addr string) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if strings.TrimSpace(line) != "+PONG" {
		return fmt.Errorf("PING answered %q", strings.TrimSpace(line))
	}
	return nil
}
