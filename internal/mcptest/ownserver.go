package mcptest

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"testing"
)

// OwnServer builds testdata/ownserver (a small Go SDK server whose tool
// definitions its environment controls: see its doc comment) once per test
// process and returns the binary's path. A build failure fails the test.
func OwnServer(tb testing.TB) string {
	tb.Helper()
	goCmd, err := exec.LookPath("go")
	if err != nil {
		tb.Fatalf("build ownserver: %v", err)
	}
	path, err := buildOnce("ownserver", func(dir string) (string, error) {
		root, err := repoRoot()
		if err != nil {
			return "", err
		}
		ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
		defer cancel()
		out := filepath.Join(dir, "ownserver")
		cmd := exec.CommandContext(ctx, goCmd, "build", "-o", out, "./internal/mcptest/testdata/ownserver")
		cmd.Dir = root
		if b, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("go build ownserver: %w\n%s", err, b)
		}
		return out, nil
	})
	if err != nil {
		tb.Fatalf("%v", err)
	}
	return path
}
