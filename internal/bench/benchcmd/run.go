package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/bench"
)

func runBench(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("benchcmd run", flag.ContinueOnError)
	tollgate := fs.String("tollgate", "", "the tollgate binary to measure (required)")
	fixture := fs.String("fixture", "", "the 323-tool tools/list fixture (default: testdata/fusionauth-tools.json of the repository)")
	smoke := fs.Bool("smoke", false, "one short round that proves every scenario works (about 20 s)")
	rounds := fs.Int("rounds", 3, "rounds (each scenario direct and through Tollgate, interleaved)")
	duration := fs.Duration("duration", 1500*time.Millisecond, "measured time per run")
	warmup := fs.Duration("warmup", 300*time.Millisecond, "warm-up per run, not measured")
	starts := fs.Int("starts", 10, "start-ups per round in the start-up scenarios")
	out := fs.String("out", "", "also write the Markdown table to this file")
	only := fs.String("run", "", "run only scenarios whose \"name in-flight\" matches this regexp")
	redis := fs.String("redis", "", "redis:// URL for the Redis scenarios (default: start redis-server on a free port if installed; \"off\" skips them)")
	listenPath := fs.String("listen-path", "/mcp", "path of Tollgate's streamable HTTP endpoint under --listen")
	profile := fs.String("profile", "", "write a CPU profile of each proxied stdio run into this directory (runs the in-process proxy, not the binary)")
	relay := fs.String("relay", "", "the bare relay binary, the floor (go build ./internal/bench/relaycmd; default: relay beside benchcmd; none: no floor figures)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *tollgate == "" {
		return errors.New("-tollgate is required")
	}
	if *smoke {
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		if !set["rounds"] {
			*rounds = 1
		}
		if !set["duration"] {
			*duration = 150 * time.Millisecond
		}
		if !set["warmup"] {
			*warmup = 50 * time.Millisecond
		}
		if !set["starts"] {
			*starts = 2
		}
	}
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find benchcmd itself: %w", err)
	}
	relaySelf := relayArgv(*relay, self, os.Stderr)
	if *fixture == "" {
		if *fixture, err = defaultFixture(); err != nil {
			return err
		}
	}
	work, err := os.MkdirTemp("", "tollgate-bench-")
	if err != nil {
		return fmt.Errorf("work directory: %w", err)
	}
	defer os.RemoveAll(work)
	cfg := bench.Config{
		Tollgate: *tollgate, Echo: []string{self, "echo"}, Fixture: *fixture, WorkDir: work,
		Rounds: *rounds, Warmup: *warmup, Duration: *duration, Starts: *starts, Smoke: *smoke,
		ListenPath: *listenPath, Profile: *profile, ProxySelf: []string{self, "proxy"},
		RelaySelf: relaySelf, Log: os.Stderr,
	}
	if *only != "" {
		if cfg.Only, err = regexp.Compile(*only); err != nil {
			return fmt.Errorf("-run: %w", err)
		}
	}
	if *profile != "" {
		if err := os.MkdirAll(*profile, 0o755); err != nil {
			return fmt.Errorf("profile directory: %w", err)
		}
	}
	switch *redis {
	case "off":
	case "":
		url, stop, err := startRedis(ctx, work)
		if err != nil {
			fmt.Fprintf(os.Stderr, "benchcmd run: no Redis scenarios: %v\n", err)
		}
		defer stop()
		cfg.Redis = url
	default:
		cfg.Redis = *redis
	}
	report, runErr := bench.Run(ctx, cfg)
	if report != nil {
		md := report.Markdown()
		fmt.Print(md)
		if *out != "" {
			if err := os.MkdirAll(filepath.Dir(*out), 0o755); err != nil {
				return fmt.Errorf("write results: %w", err)
			}
			if err := os.WriteFile(*out, []byte(md), 0o644); err != nil {
				return fmt.Errorf("write results: %w", err)
			}
			fmt.Fprintf(os.Stderr, "wrote %s\n", *out)
		}
	}
	return runErr
}

// defaultFixture finds testdata/fusionauth-tools.json in the repository that
// holds the working directory.
func defaultFixture() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find the fixture: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			p := filepath.Join(dir, "testdata", "fusionauth-tools.json")
			if _, err := os.Stat(p); err != nil {
				return "", fmt.Errorf("find the fixture: %w (pass -fixture)", err)
			}
			return p, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("find the fixture: no go.mod above the working directory (pass -fixture)")
		}
		dir = parent
	}
}

// startRedis starts redis-server on a free 127.0.0.1 port, without
// persistence, and returns its URL and a function that stops it.
func startRedis(ctx context.Context, work string) (url string, stop func(), err error) {
	stop = func() {}
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return "", stop, errors.New("redis-server is not installed")
	}
	l, err := freePort()
	if err != nil {
		return "", stop, err
	}
	dir := filepath.Join(work, "redis")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", stop, fmt.Errorf("redis directory: %w", err)
	}
	cmd := exec.Command(bin, "--port", strconv.Itoa(l), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", dir, "--daemonize", "no", "--logfile", "")
	if err := cmd.Start(); err != nil {
		return "", stop, fmt.Errorf("start redis-server: %w", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	stop = func() {
		_ = cmd.Process.Kill()
		<-exited
	}
	addr := "127.0.0.1:" + strconv.Itoa(l)
	if err := waitRedis(ctx, addr, exited); err != nil {
		stop()
		return "", func() {}, err
	}
	return "redis://" + addr + "/0", stop, nil
}

func fileExists(path string) bool {
	st, err := os.Stat(path)
	return err == nil && !st.IsDir()
}

// relayArgv is the bare relay's command for the -relay flag's value: the
// binary given, the relay beside benchcmd (self) when none is given, or
// nothing (no floor figures) for "none" or when there is no relay beside
// benchcmd, which is said on log.
func relayArgv(flag, self string, log io.Writer) []string {
	switch flag {
	case "none":
		return nil
	case "":
		beside := filepath.Join(filepath.Dir(self), "relay")
		if !fileExists(beside) {
			fmt.Fprintf(log, "benchcmd run: no relay binary beside benchcmd (%s), so no floor figures; build it with go build -o %s ./internal/bench/relaycmd, or give -relay\n", beside, beside)
			return nil
		}
		flag = beside
	}
	return []string{flag}
}
