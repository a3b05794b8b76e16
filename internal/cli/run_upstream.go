package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"net/textproto"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/gate"
	"github.com/tollgate-mcp/tollgate/internal/proxy"
	"github.com/tollgate-mcp/tollgate/internal/transport"
	"github.com/tollgate-mcp/tollgate/internal/transport/sse"
	"github.com/tollgate-mcp/tollgate/internal/transport/stdio"
	"github.com/tollgate-mcp/tollgate/internal/transport/streamhttp"
)

// upstreamFlags are tollgate run's flags for an MCP server reached over
// HTTP instead of started as a command.
type upstreamFlags struct {
	url            string
	headers        headerList
	connectTimeout time.Duration
	requestTimeout time.Duration
}

func (f *upstreamFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.url, "upstream", "", "URL of the MCP server to reach over streamable HTTP (or legacy HTTP+SSE), instead of a command")
	fs.Var(&f.headers, "header", "HTTP header sent to the upstream, \"Name: value\"; repeatable; ${VAR} in the value is read from the environment")
	fs.DurationVar(&f.connectTimeout, "upstream-connect-timeout", streamhttp.DefaultConnectTimeout, "bound on connecting to the upstream")
	fs.DurationVar(&f.requestTimeout, "upstream-timeout", 0, "bound on one upstream request, its whole answer included (0: none)")
}

// headerList collects --header flags as given; they are parsed (and
// environment variables expanded) by header, so that a value never shows in
// a usage message.
type headerList []string

func (h *headerList) String() string { return "" }

func (h *headerList) Set(s string) error {
	*h = append(*h, s)
	return nil
}

// reservedHeaders are set by the transport itself.
var reservedHeaders = map[string]bool{
	"Accept": true, "Content-Type": true, "Content-Length": true, "Mcp-Session-Id": true,
	"Mcp-Protocol-Version": true, "Last-Event-Id": true, "Mcp-Method": true, "Mcp-Name": true,
}

// header parses the --header flags. Errors name the header, never its value.
func (h headerList) header(getenv func(string) (string, bool)) (http.Header, error) {
	out := make(http.Header)
	for _, raw := range h {
		name, value, ok := strings.Cut(raw, ":")
		name = strings.TrimSpace(name)
		if !ok || !validToken(name) {
			return nil, fmt.Errorf("--header wants \"Name: value\" with a valid header name")
		}
		key := textproto.CanonicalMIMEHeaderKey(name)
		if reservedHeaders[key] || strings.HasPrefix(key, "Mcp-Param-") {
			return nil, fmt.Errorf("--header %s: Tollgate sets this header itself", key)
		}
		v, err := expandEnv(strings.TrimSpace(value), getenv)
		if err != nil {
			return nil, fmt.Errorf("--header %s: %w", key, err)
		}
		if strings.ContainsAny(v, "\r\n\x00") {
			return nil, fmt.Errorf("--header %s: the value contains a line break", key)
		}
		out.Add(key, v)
	}
	return out, nil
}

func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

// expandEnv replaces each ${NAME} in s by the environment variable NAME. A
// lone $ stays as it is (a secret may contain one); an unset variable is an
// error, so that a header is never sent with a hole in it.
func expandEnv(s string, getenv func(string) (string, bool)) (string, error) {
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String(), nil
		}
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			return "", errors.New("unterminated ${ in the value")
		}
		name := s[i+2 : i+j]
		v, ok := getenv(name)
		if !ok {
			return "", fmt.Errorf("environment variable %s is not set", name)
		}
		b.WriteString(s[:i])
		b.WriteString(v)
		s = s[i+j+1:]
	}
}

// clientOptions builds the upstream client's options from the flags.
func (f *upstreamFlags) clientOptions(maxMessage int, logger *slog.Logger) (streamhttp.ClientOptions, error) {
	h, err := f.headers.header(os.LookupEnv)
	if err != nil {
		return streamhttp.ClientOptions{}, err
	}
	return streamhttp.ClientOptions{
		Header:         h,
		ConnectTimeout: f.connectTimeout,
		RequestTimeout: f.requestTimeout,
		MaxMessageSize: maxMessage,
		ReinitOn404:    true, // the stdio client cannot see the upstream session
		Logger:         logger,
	}, nil
}

// runBridge serves an MCP client on Tollgate's stdin/stdout with an MCP
// server reached over HTTP as the upstream. It returns 0 when the client
// ended the session (or a signal stopped it) and 1 when the upstream did.
func runBridge(ctx context.Context, e env, f *runFlags, g *gate.Gate, logger *slog.Logger) int {
	opts, err := f.upstream.clientOptions(f.maxMessage, logger)
	if err != nil {
		fmt.Fprintf(e.stderr, "tollgate run: %v\n", err)
		return exitUsage
	}
	server, err := streamhttp.Dial(ctx, f.upstream.url, opts)
	if err != nil {
		fmt.Fprintf(e.stderr, "tollgate run: %v\n", err)
		return exitUsage
	}
	defer server.Close()

	runCtx, cancel := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer cancel()
	client := stdio.NewConn(pollableStdin(e), pollableStdout(e), f.maxMessage)
	err = proxy.NewHandler(g, logger).Serve(runCtx, &transport.Session{ID: newSessionID(), Identity: f.identity}, client, server)
	switch {
	case err == nil, errors.Is(err, context.Canceled):
		return exitOK
	case errors.Is(err, proxy.ErrUpstreamClosed):
		logger.Error("the upstream ended the session", "upstream", sse.RedactURL(f.upstream.url))
		return exitFail
	default:
		logger.Error("session ended with an error", "err", err)
		return exitFail
	}
}
