package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/bench/echo"
)

func runEcho(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("benchcmd echo", flag.ContinueOnError)
	tools := fs.String("tools", "", "tools/list result file ({\"tools\":[...]}); default: echo, big, fail")
	addr := fs.String("http", "", "serve streamable HTTP on this address instead of stdio")
	log := fs.String("log", "", "append every executed tools/call to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	s, err := echo.New(echo.Options{ToolsFile: *tools, CallLog: *log})
	if err != nil {
		return err
	}
	defer s.Close()
	if *addr == "" {
		return s.ServeStdio(os.Stdin, os.Stdout)
	}
	l, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	select {
	case err := <-done:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("shut down: %w", err)
	}
	<-done
	return nil
}
