package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"time"
)

// runRelay is the relay: it carries messages between
// the load client and the echo server and does nothing else: no parsing, no
// policy, no audit. Whatever a relay must cost on this machine (another
// process, two more hops per call), it costs too, so a row's figure for it
// says how much of Tollgate's cost is the price of being in the path at all.
//
//	relay -- CMD [ARGS...]                      stdin/stdout ⇄ a child's pipes (byte copies)
//	relay --upstream URL                        stdin/stdout ⇄ streamable HTTP (a POST per line, concurrent)
//	relay --listen ADDR --upstream URL          HTTP ⇄ HTTP (net/http/httputil.ReverseProxy, pooled connections)
//
// It accepts, and ignores, the tollgate run flags the harness passes (-c,
// --log-level, --state…), so that the harness can start it in Tollgate's
// place.
func runRelay(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("relay", flag.ContinueOnError)
	listen := fs.String("listen", "", "serve streamable HTTP on this address")
	upstream := fs.String("upstream", "", "streamable HTTP endpoint of the server")
	for _, name := range []string{"c", "log-level", "state", "state-dir", "state-prefix"} {
		_ = fs.String(name, "", "ignored (accepted as tollgate run takes it)")
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch {
	case *listen != "" && *upstream != "":
		return relayHTTP(ctx, *listen, *upstream)
	case *upstream != "":
		return relayBridge(ctx, *upstream)
	case fs.NArg() > 0:
		return relayStdio(ctx, fs.Args())
	}
	return errors.New("usage: relay [--listen ADDR] --upstream URL | relay -- CMD [ARGS...]")
}

// relayStdio copies stdin to the child's stdin and the child's stdout to
// stdout, the way Tollgate's stdio transport connects them (a pipe of its
// own for the child's stdout).
func relayStdio(ctx context.Context, argv []string) error {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	out, outW, err := os.Pipe()
	if err != nil {
		return err
	}
	cmd.Stdout = outW
	err = cmd.Start()
	outW.Close()
	if err != nil {
		return fmt.Errorf("start %s: %w", argv[0], err)
	}
	go func() {
		_, _ = io.Copy(in, os.Stdin)
		in.Close()
	}()
	_, err = io.Copy(os.Stdout, out)
	_ = cmd.Wait()
	return err
}

// relayBridge posts each line of stdin to the upstream, every line in its
// own goroutine so that calls stay concurrent, and writes each response body
// as a line to stdout. It keeps the session id the server hands out.
func relayBridge(ctx context.Context, upstream string) error {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256, IdleConnTimeout: time.Minute}}
	var (
		session atomic.Pointer[string]
		mu      sync.Mutex
		wg      sync.WaitGroup
		failed  atomic.Pointer[error]
	)
	out := bufio.NewWriter(os.Stdout)
	post := func(line []byte) {
		defer wg.Done()
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, upstream, bytes.NewReader(line))
		if err != nil {
			failed.CompareAndSwap(nil, &err)
			return
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		if s := session.Load(); s != nil {
			req.Header.Set("Mcp-Session-Id", *s)
		}
		resp, err := client.Do(req)
		if err != nil {
			failed.CompareAndSwap(nil, &err)
			return
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			failed.CompareAndSwap(nil, &err)
			return
		}
		if s := resp.Header.Get("Mcp-Session-Id"); s != "" {
			session.Store(&s)
		}
		body = bytes.TrimSpace(body)
		if len(body) == 0 {
			return // 202: a notification or a response
		}
		mu.Lock()
		out.Write(body)
		out.WriteByte('\n')
		err = out.Flush()
		mu.Unlock()
		if err != nil {
			failed.CompareAndSwap(nil, &err)
		}
	}
	r := bufio.NewReaderSize(os.Stdin, 64<<10)
	first := true
	for {
		line, err := r.ReadBytes('\n')
		if len(bytes.TrimSpace(line)) > 0 {
			wg.Add(1)
			if first {
				post(line) // initialize: its answer carries the session id
				first = false
			} else {
				go post(line)
			}
		}
		if err != nil {
			wg.Wait()
			if p := failed.Load(); p != nil {
				return *p
			}
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
}

// relayHTTP serves a reverse proxy to the upstream on addr until ctx ends.
func relayHTTP(ctx context.Context, addr, upstream string) error {
	u, err := url.Parse(upstream)
	if err != nil {
		return fmt.Errorf("--upstream: %w", err)
	}
	rp := &httputil.ReverseProxy{
		Rewrite:   func(r *httputil.ProxyRequest) { r.Out.URL = u; r.Out.Host = u.Host },
		Transport: &http.Transport{MaxIdleConnsPerHost: 256, IdleConnTimeout: time.Minute},
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: rp, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	if err := srv.Serve(l); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
