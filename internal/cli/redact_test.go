package cli

import (
	"bufio"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/mcptest"
)

const secretPW = "s3cret-pw"

// tollgateOut runs the binary to its end and returns what it printed.
func tollgateOut(t *testing.T, env []string, stdin string, args ...string) string {
	t.Helper()
	cmd := exec.Command(mcptest.Tollgate(t), args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = strings.NewReader(stdin)
	done := make(chan struct{})
	var out []byte
	go func() { out, _ = cmd.CombinedOutput(); close(done) }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("tollgate %v did not end", args)
	}
	return string(out)
}

// redisWithPassword is a real Redis that wants secretPW.
func redisWithPassword(t *testing.T) string {
	t.Helper()
	u, err := url.Parse(mcptest.Redis(t))
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.DialTimeout("tcp", u.Host, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(c, "CONFIG SET requirepass %s\r\n", secretPW)
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "+OK") {
		t.Fatalf("set the Redis password: %q, %v", line, err)
	}
	return u.Host
}

// No command prints the password of a --state spec: not run (its errors,
// its log lines, the audit trail it writes), not approvals, not status over
// what run wrote, not --help.
func TestStateSpecPasswordsNeverPrinted(t *testing.T) {
	host := redisWithPassword(t)
	closed := fmt.Sprintf("127.0.0.1:%d", mcptest.FreePort(t))
	dir := t.TempDir()
	pol := filepath.Join(dir, "policy.yaml")
	writeFile(t, pol, "version: \"1\"\ndefault: allow\ntools:\n  t:\n    rules:\n      - name: cap\n        rate_limit: \"5/minute\"\n")
	stateHome := t.TempDir()
	env := []string{"XDG_STATE_HOME=" + stateHome}
	server := []string{"--", "sh", "-c", "cat >/dev/null"}

	specs := []string{
		"redis://:" + secretPW + "@" + host + "/0",                    // works
		"redis://tollgate:" + secretPW + "@" + closed + "/0",          // unreachable
		"rediss://tollgate:" + secretPW + "@" + closed + "/0",         // unreachable, TLS
		"redis://tollgate:" + secretPW + " x@" + host + "/0",          // does not parse
		"redis://" + host + "/0?password=" + secretPW,                 // in the query
		"sqlite://" + filepath.Join(dir, "s.db") + "?key=" + secretPW, // sqlite with a query
		"bogus://u:" + secretPW + "@" + host,                          // unknown store
		"u:" + secretPW + "@" + host,                                  // no scheme
	}
	for _, spec := range specs {
		for _, args := range [][]string{
			append([]string{"run", "-c", pol, "--log-level", "debug", "--state", spec}, server...),
			append([]string{"run", "-c", pol, "--state-dsn", spec, "--admin-addr", "127.0.0.1:0"}, server...),
			{"approvals", "list", "--state", spec},
			{"approvals", "show", "nope", "--state", spec},
		} {
			out := tollgateOut(t, env, "", args...)
			if strings.Contains(out, secretPW) {
				t.Errorf("tollgate %s printed the password:\n%s", strings.Join(args[:2], " "), out)
			}
		}
	}
	for _, args := range [][]string{{"status"}, {"status", "--json"}, {"run", "--help"}, {"approvals", "--help"}} {
		if out := tollgateOut(t, env, "", args...); strings.Contains(out, secretPW) {
			t.Errorf("tollgate %s printed the password:\n%s", strings.Join(args, " "), out)
		}
	}
	// The working spec did run and write its start line: status had
	// something to show.
	if out := tollgateOut(t, env, "", "status", "--json"); !strings.Contains(out, `"instance"`) {
		t.Errorf("status shows no instance; the test proves nothing:\n%s", out)
	}
	filepath.WalkDir(stateHome, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if b, _ := os.ReadFile(path); strings.Contains(string(b), secretPW) && filepath.Ext(path) != ".db" {
				t.Errorf("%s holds the password", path)
			}
		}
		return nil
	})
}
