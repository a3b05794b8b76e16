package scan

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"sync"

	"github.com/tollgate-mcp/tollgate/internal/jsonrpc"
	"github.com/tollgate-mcp/tollgate/internal/redact"
)

// maxHTTPBody bounds one HTTP response body.
const maxHTTPBody = 256 << 20

// FetchHTTP lists the tools of the streamable HTTP MCP server at endpoint. header
// is sent with every request (authorization, for example); its values are
// never echoed in errors or reports. client nil means http.DefaultClient.
func FetchHTTP(ctx context.Context, endpoint string, header http.Header, client *http.Client, o Options) (inv Inventory, err error) {
	if client == nil {
		client = http.DefaultClient
	}
	s := &httpSession{url: endpoint, header: header, client: client}
	defer func() {
		// End the session; a server that does not support DELETE answers 405.
		s.end(context.WithoutCancel(ctx))
	}()
	inv, err = discover(ctx, s, o, "http: "+redact.URL(endpoint))
	if err != nil && s.refusedInit {
		// Perhaps a server of the legacy HTTP+SSE transport.
		linv, lerr := fetchLegacy(ctx, endpoint, header, client, o)
		if lerr == nil {
			return linv, nil
		}
		return Inventory{}, fmt.Errorf("%w (as a legacy HTTP+SSE server: %w)", err, lerr)
	}
	if err != nil {
		return Inventory{}, err
	}
	return inv, nil
}

// httpSession is a streamable HTTP client session.
type httpSession struct {
	url    string
	header http.Header
	client *http.Client

	mu        sync.Mutex
	nextID    int
	sessionID string
	protocol  string
	// refusedInit: the initialize POST was answered 404 or 405, as a
	// server of the legacy HTTP+SSE transport answers it.
	refusedInit bool
}

func (s *httpSession) call(ctx context.Context, method string, params any) (json.RawMessage, error) {
	raw, err := marshalParams(params)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.nextID++
	id := json.RawMessage(fmt.Sprint(s.nextID))
	s.mu.Unlock()
	resp, err := s.post(ctx, &message{JSONRPC: "2.0", ID: id, Method: method, Params: raw})
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if method == "initialize" {
		if sid := resp.Header.Get("Mcp-Session-Id"); sid != "" {
			s.mu.Lock()
			s.sessionID = sid
			s.mu.Unlock()
		}
	}
	m, err := s.readResponse(ctx, resp, id)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", method, err)
	}
	if m.Error != nil {
		return nil, m.Error
	}
	if m.Result == nil {
		return nil, fmt.Errorf("%s: response has neither result nor error", method)
	}
	if method == "initialize" {
		var r struct {
			ProtocolVersion string `json:"protocolVersion"`
		}
		if json.Unmarshal(m.Result, &r) == nil {
			s.mu.Lock()
			s.protocol = r.ProtocolVersion
			s.mu.Unlock()
		}
	}
	return m.Result, nil
}

func (s *httpSession) notify(ctx context.Context, method string, params any) error {
	raw, err := marshalParams(params)
	if err != nil {
		return err
	}
	resp, err := s.post(ctx, &message{JSONRPC: "2.0", Method: method, Params: raw})
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	return nil
}

func (s *httpSession) newRequest(ctx context.Context, httpMethod string, body []byte) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, httpMethod, s.url, bytes.NewReader(body))
	if err != nil {
		return nil, redact.Error(err, s.url)
	}
	for k, vs := range s.header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	s.mu.Lock()
	if s.sessionID != "" {
		req.Header.Set("Mcp-Session-Id", s.sessionID)
	}
	if s.protocol != "" {
		req.Header.Set("MCP-Protocol-Version", s.protocol)
	}
	s.mu.Unlock()
	return req, nil
}

// post sends one message and returns the response if its status is a
// success; otherwise it returns an error quoting the start of the body.
func (s *httpSession) post(ctx context.Context, m *message) (*http.Response, error) {
	body, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	req, err := s.newRequest(ctx, http.MethodPost, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", redact.URL(s.url), redact.Error(err, s.url))
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		if m.Method == "initialize" && (resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusMethodNotAllowed) {
			s.mu.Lock()
			s.refusedInit = true
			s.mu.Unlock()
		}
		snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		// A JSON-RPC error in an error response says the most.
		var em message
		if json.Unmarshal(snippet, &em) == nil && em.Error != nil {
			return nil, fmt.Errorf("HTTP %s: %w", resp.Status, em.Error)
		}
		msg := strings.TrimSpace(oneLine(string(snippet)))
		if msg != "" {
			msg = ": " + truncate(msg, 200)
		}
		return nil, fmt.Errorf("HTTP %s from %s%s", resp.Status, redact.URL(s.url), msg)
	}
	return resp, nil
}

// readResponse finds the response to id in a JSON body or an SSE stream,
// answering any server requests that arrive first.
func (s *httpSession) readResponse(ctx context.Context, resp *http.Response, id json.RawMessage) (*message, error) {
	ct, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	body := io.LimitReader(resp.Body, maxHTTPBody)
	switch ct {
	case "application/json":
		data, err := io.ReadAll(body)
		if err != nil {
			return nil, fmt.Errorf("read response: %w", err)
		}
		return s.pick(ctx, data, id)
	case "text/event-stream":
		return s.readSSE(ctx, body, id)
	default:
		return nil, fmt.Errorf("unexpected response content type %q (status %s)", resp.Header.Get("Content-Type"), resp.Status)
	}
}

// pick returns the response to id among the messages in data, a single
// message or a batch.
func (s *httpSession) pick(ctx context.Context, data []byte, id json.RawMessage) (*message, error) {
	data = bytes.TrimSpace(data)
	var msgs []message
	if len(data) > 0 && data[0] == '[' {
		if err := json.Unmarshal(data, &msgs); err != nil {
			return nil, fmt.Errorf("malformed response: %w", err)
		}
	} else {
		var m message
		if err := json.Unmarshal(data, &m); err != nil {
			return nil, fmt.Errorf("malformed response: %w", err)
		}
		msgs = []message{m}
	}
	for i := range msgs {
		m := &msgs[i]
		switch {
		case m.isResponse() && jsonrpc.SameID(m.ID, id):
			return m, nil
		case m.isResponse() && m.Error != nil:
			// An error with a null or unknown id is still about our request.
			return m, nil
		case m.isRequest():
			s.reply(ctx, m)
		}
	}
	return nil, nil
}

// readSSE reads server-sent events until the response to id arrives.
func (s *httpSession) readSSE(ctx context.Context, body io.Reader, id json.RawMessage) (*message, error) {
	r := bufio.NewReaderSize(body, 64<<10)
	var data bytes.Buffer
	event := ""
	for {
		line, err := readLine(r)
		text := string(line)
		switch {
		case text == "" && err == nil:
			// End of an event.
			if data.Len() > 0 && (event == "" || event == "message") {
				m, perr := s.pick(ctx, data.Bytes(), id)
				if perr != nil {
					return nil, perr
				}
				if m != nil {
					return m, nil
				}
			}
			data.Reset()
			event = ""
		case strings.HasPrefix(text, "data:"):
			if data.Len() > 0 {
				data.WriteByte('\n')
			}
			data.WriteString(strings.TrimPrefix(strings.TrimPrefix(text, "data:"), " "))
		case strings.HasPrefix(text, "event:"):
			event = strings.TrimSpace(strings.TrimPrefix(text, "event:"))
		}
		// "id:", "retry:" and comments need nothing from a one-shot client.
		if err != nil {
			if data.Len() > 0 && (event == "" || event == "message") {
				if m, perr := s.pick(ctx, data.Bytes(), id); perr == nil && m != nil {
					return m, nil
				}
			}
			if errors.Is(err, io.EOF) {
				return nil, errors.New("event stream ended before the response arrived")
			}
			return nil, fmt.Errorf("read event stream: %w", err)
		}
	}
}

// reply answers a server→client request with a POST of its own.
func (s *httpSession) reply(ctx context.Context, req *message) {
	ans := answer(req)
	resp, err := s.post(ctx, &ans)
	if err != nil {
		return
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
}

// end deletes the session, if the server gave one.
func (s *httpSession) end(ctx context.Context) {
	s.mu.Lock()
	sid := s.sessionID
	s.mu.Unlock()
	if sid == "" {
		return
	}
	req, err := s.newRequest(ctx, http.MethodDelete, nil)
	if err != nil {
		return
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
}
