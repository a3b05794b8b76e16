// Package echo is the MCP server that the benchmarks and the end-to-end limit
// tests run as Tollgate's upstream. It answers tools/list from a file (or a
// small built-in list) and tools/call by echoing the arguments back as text;
// the tool "big" answers a 1 MiB text and "fail" a tool error (isError). It
// speaks newline-delimited JSON over stdio and streamable HTTP (JSON
// responses, no server-sent events), does as little work per message as it
// can so that what a benchmark measures is the proxy, and can append every
// call it executes to a log file so that a test counts what reached the
// server.
package echo

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/tollgate-mcp/tollgate/internal/jsonrpc"
)

// BigSize is the length of the text the tool "big" answers.
const BigSize = 1 << 20

// Tool names with behaviour of their own; every other name echoes.
const (
	ToolEcho = "echo"
	ToolBig  = "big"
	ToolFail = "fail"
)

// defaultTools is the list answered when no tools file is given.
const defaultTools = `[` +
	`{"name":"echo","description":"Echo the arguments back as text","inputSchema":{"type":"object","properties":{"message":{"type":"string"},"amount":{"type":"number"}}}},` +
	`{"name":"big","description":"Answer a 1 MiB text","inputSchema":{"type":"object","properties":{}}},` +
	`{"name":"fail","description":"Always fail with a tool error (isError)","inputSchema":{"type":"object","properties":{"amount":{"type":"number"}}}}` +
	`]`

// Options configures a Server.
type Options struct {
	// ToolsFile is a JSON file holding a tools/list result ({"tools":[…]})
	// or a bare array of tools; "" answers the built-in list.
	ToolsFile string
	// CallLog, when not "", is a file every executed tools/call is appended
	// to, one JSON line {"tool":…,"arguments":…} each, in one write (so
	// several servers may share the file).
	CallLog string
}

// Server answers MCP requests. It is safe for concurrent use.
type Server struct {
	list []byte // complete tools/list result
	big  []byte // complete tools/call result of "big"
	log  *os.File
	mu   sync.Mutex // serialises writes to log
}

// New returns a server configured by opts.
func New(opts Options) (*Server, error) {
	tools := []byte(defaultTools)
	if opts.ToolsFile != "" {
		var err error
		if tools, err = readTools(opts.ToolsFile); err != nil {
			return nil, err
		}
	}
	s := &Server{list: append(append([]byte(`{"tools":`), tools...), '}')}
	text := make([]byte, BigSize)
	for i := range text {
		text[i] = "abcdefghijklmnopqrstuvwxyz012345"[i%32]
	}
	s.big = textResult(nil, text, false)
	if opts.CallLog != "" {
		f, err := os.OpenFile(opts.CallLog, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err != nil {
			return nil, fmt.Errorf("open call log: %w", err)
		}
		s.log = f
	}
	return s, nil
}

// readTools reads a tools file and returns its tools as one compact JSON
// array.
func readTools(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read tools file: %w", err)
	}
	var obj struct {
		Tools json.RawMessage `json:"tools"`
	}
	raw := json.RawMessage(data)
	if t := bytes.TrimSpace(data); len(t) > 0 && t[0] == '{' {
		if err := json.Unmarshal(data, &obj); err != nil {
			return nil, fmt.Errorf("read tools file %s: %w", path, err)
		}
		raw = obj.Tools
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return nil, fmt.Errorf("read tools file %s: %w", path, err)
	}
	if buf.Len() == 0 || buf.Bytes()[0] != '[' {
		return nil, fmt.Errorf("read tools file %s: no tools array", path)
	}
	return buf.Bytes(), nil
}

// Close closes the call log.
func (s *Server) Close() error {
	if s.log != nil {
		return s.log.Close()
	}
	return nil
}

// Handle answers one message: it returns the complete response to send,
// or nil for a notification or a response (which need no answer).
func (s *Server) Handle(frame []byte) []byte {
	m, err := jsonrpc.Parse(frame, false)
	if err != nil {
		var rpcErr *jsonrpc.Error
		if errors.As(err, &rpcErr) {
			return jsonrpc.AppendError(nil, rpcErr.ID, rpcErr.Code, rpcErr.Message, nil)
		}
		return jsonrpc.AppendError(nil, nil, jsonrpc.CodeParseError, err.Error(), nil)
	}
	if !m.IsRequest() {
		return nil
	}
	switch m.Method {
	case "initialize":
		version := "2025-06-18"
		_ = jsonrpc.Members(m.Params, func(key string, val []byte) error {
			if key == "protocolVersion" {
				if v, ok := jsonrpc.Unquote(val); ok {
					version = v
				}
			}
			return nil
		})
		res := append([]byte(`{"protocolVersion":`), jsonrpc.AppendString(nil, version)...)
		res = append(res, `,"capabilities":{"tools":{}},"serverInfo":{"name":"tollgate-bench-echo","version":"1.0.0"}}`...)
		return jsonrpc.AppendResult(nil, m.ID, res)
	case "ping":
		return jsonrpc.AppendResult(nil, m.ID, []byte(`{}`))
	case "tools/list":
		return jsonrpc.AppendResult(make([]byte, 0, len(s.list)+64), m.ID, s.list)
	case "tools/call":
		return s.call(m.ID, m.Params)
	}
	return jsonrpc.AppendError(nil, m.ID, jsonrpc.CodeMethodNotFound, "method not found: "+m.Method, nil)
}

func (s *Server) call(id, params []byte) []byte {
	var name string
	args := []byte("{}")
	err := jsonrpc.Members(params, func(key string, val []byte) error {
		switch key {
		case "name":
			n, ok := jsonrpc.Unquote(val)
			if !ok {
				return errors.New("name must be a string")
			}
			name = n
		case "arguments":
			args = val
		}
		return nil
	})
	if err != nil || name == "" {
		return jsonrpc.AppendError(nil, id, jsonrpc.CodeInvalidParams, "invalid tools/call params", nil)
	}
	if err := s.record(name, args); err != nil {
		return jsonrpc.AppendError(nil, id, jsonrpc.CodeInternalError, err.Error(), nil)
	}
	switch name {
	case ToolBig:
		return jsonrpc.AppendResult(make([]byte, 0, len(s.big)+64), id, s.big)
	case ToolFail:
		return jsonrpc.AppendResult(nil, id, textResult(nil, append([]byte("failed: "), args...), true))
	}
	return jsonrpc.AppendResult(nil, id, textResult(nil, args, false))
}

// record appends one executed call to the call log.
func (s *Server) record(name string, args []byte) error {
	if s.log == nil {
		return nil
	}
	line := append([]byte(`{"tool":`), jsonrpc.AppendString(nil, name)...)
	line = append(line, `,"arguments":`...)
	line = append(line, args...)
	line = append(line, "}\n"...)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.log.Write(line); err != nil {
		return fmt.Errorf("write call log: %w", err)
	}
	return nil
}

// textResult appends a tool result with one text content to dst.
func textResult(dst, text []byte, isError bool) []byte {
	dst = append(dst, `{"content":[{"type":"text","text":`...)
	dst = jsonrpc.AppendString(dst, string(text))
	dst = append(dst, "}]"...)
	if isError {
		dst = append(dst, `,"isError":true`...)
	}
	return append(dst, '}')
}

// EchoText is the text the server answers for a call with these raw
// arguments, as it appears JSON-encoded in the response: a client checks that
// its answer contains it.
func EchoText(args []byte) []byte { return jsonrpc.AppendString(nil, string(args)) }

// ServeStdio answers messages read from r on w until r ends. Messages are
// answered in order, one at a time: the server is never the bottleneck of a
// comparison, since it is the same with and without the proxy.
func (s *Server) ServeStdio(r io.Reader, w io.Writer) error {
	rd := jsonrpc.NewReader(r, 0)
	wr := jsonrpc.NewWriter(w)
	for {
		frame, err := rd.Next()
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, os.ErrClosed) || errors.Is(err, io.ErrClosedPipe) {
				return nil
			}
			return fmt.Errorf("echo server: read: %w", err)
		}
		if out := s.Handle(frame); out != nil {
			if err := wr.Write(out); err != nil {
				return fmt.Errorf("echo server: %w", err)
			}
		}
	}
}
