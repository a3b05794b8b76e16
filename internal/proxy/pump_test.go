package proxy_test

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/tollgate-mcp/tollgate/internal/gate"
	"github.com/tollgate-mcp/tollgate/internal/jsonrpc"
	"github.com/tollgate-mcp/tollgate/internal/mcptest"
	"github.com/tollgate-mcp/tollgate/internal/policy"
	"github.com/tollgate-mcp/tollgate/internal/proxy"
	"github.com/tollgate-mcp/tollgate/internal/state/memstore"
	"github.com/tollgate-mcp/tollgate/internal/transport"
	"github.com/tollgate-mcp/tollgate/internal/transport/stdio"
)

var update = flag.Bool("update", false, "rewrite the want sections of testdata/*.txtar")

// A transcript (testdata/NAME.txtar) has these sections:
//
//	policy.yaml   the policy (default: allow everything)
//	server        how the fake upstream answers: "METHOD => REPLY" lines, REPLY
//	              with {{id}} (the raw request id) and {{args}} (the raw
//	              arguments of a tools/call) substituted; "* => ..." is the
//	              fallback; "tool NAME => RESULT" answers tools/call of NAME; a
//	              line "emit => LINE" is sent by the server at start (before
//	              any request), e.g. a non-JSON line; "close-after => N"
//	              makes the server hang up after receiving N messages;
//	              "unknown-tool => REPLY" answers tools/call of a name with
//	              no "tool" line, with {{name}} the called name; "task ID
//	              => RESULT" answers tasks/* requests about task ID, and
//	              "unknown-task => REPLY" those about any other task ({{name}}
//	              the task id); {{nl}} in a
//	              REPLY separates messages sent one after the other.
//	client        the lines the client sends, in order; "<wait N>" waits
//	              until the client has received N lines; "<big>" sends a
//	              message over the 4096-byte test limit
//	want-client   what the client must receive (order-insensitive)
//	want-server   what the server must receive (order-insensitive)
func TestTranscripts(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.txtar")
	if len(files) == 0 {
		t.Fatal("no transcripts")
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txtar"), func(t *testing.T) {
			runTranscript(t, file)
		})
	}
}

type section struct {
	name string
	body string
}

func parseTxtar(data string) []section {
	var out []section
	for _, line := range strings.SplitAfter(data, "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "-- ") && strings.HasSuffix(trimmed, " --") {
			out = append(out, section{name: strings.TrimSuffix(strings.TrimPrefix(trimmed, "-- "), " --")})
			continue
		}
		if len(out) > 0 {
			out[len(out)-1].body += line
		}
	}
	return out
}

func lines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return out
}

func runTranscript(t *testing.T, file string) {
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	secs := parseTxtar(string(data))
	get := func(name string) string {
		for _, s := range secs {
			if s.name == name {
				return s.body
			}
		}
		return ""
	}
	polSrc := get("policy.yaml")
	if polSrc == "" {
		polSrc = "version: \"1\"\n"
	}
	pol, err := policy.Load("policy.yaml", []byte(polSrc))
	if err != nil {
		t.Fatal(err)
	}
	g := gate.New(pol)
	g.Store = memstore.New()

	clientLines := lines(get("client"))
	wantClient := lines(get("want-client"))
	wantServer := lines(get("want-server"))

	fs := newFakeServer(t, lines(get("server")))
	cw, pr, pw, done := startPump(t, g, fs, 4096)

	var got []string
	var mu sync.Mutex
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		sc := bufio.NewScanner(pr)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			mu.Lock()
			got = append(got, sc.Text())
			mu.Unlock()
		}
	}()
	for _, l := range clientLines {
		var n int
		if _, err := fmt.Sscanf(l, "<wait %d>", &n); err == nil {
			mcptest.Eventually(t, 5*time.Second, func() bool { mu.Lock(); defer mu.Unlock(); return len(got) >= n }, fmt.Sprintf("%d answers", n))
			continue
		}
		if l == "<big>" {
			l = `{"jsonrpc":"2.0","id":99,"method":"tools/call","params":{"name":"x","arguments":{"p":"` + strings.Repeat("y", 5000) + `"}}}`
		}
		if _, err := io.WriteString(cw, l+"\n"); err != nil {
			t.Fatal(err)
		}
	}
	// Wait until the client has everything it should get (or more).
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n >= len(wantClient) && fs.received() >= len(wantServer) || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	cw.Close()
	if err := <-done; err != nil && !(errors.Is(err, proxy.ErrUpstreamClosed) && strings.Contains(get("server"), "close-after")) {
		t.Errorf("Run: %v", err)
	}
	pw.Close()
	<-readDone
	mu.Lock()
	defer mu.Unlock()
	gotServer := fs.lines()
	if *update {
		rewrite(t, file, data, got, gotServer)
		return
	}
	sorted := func(s []string) []string { s = slices.Clone(s); slices.Sort(s); return s }
	if diff := cmp.Diff(sorted(wantClient), sorted(got)); diff != "" {
		t.Errorf("client received (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(sorted(wantServer), sorted(gotServer)); diff != "" {
		t.Errorf("server received (-want +got):\n%s", diff)
	}
}

// startPump runs a pump (session "s1", client frames of at most
// maxFrame bytes) between pipes that stand for the client and fs. The
// client writes to cw and reads from pr; pw is the pump's end of pr, for
// the test to close; done yields what Serve returned. The run is bounded by
// a 10 s deadline.
func startPump(t *testing.T, g proxy.Gate, fs *fakeServer, maxFrame int) (cw *io.PipeWriter, pr *io.PipeReader, pw *io.PipeWriter, done <-chan error) {
	t.Helper()
	cr, cw := io.Pipe() // client → pump
	pr, pw = io.Pipe()  // pump → client
	h := proxy.NewHandler(g, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	ch := make(chan error, 1)
	go func() {
		ch <- h.Serve(ctx, &transport.Session{ID: "s1"}, stdio.NewConn(cr, pw, maxFrame), stdio.NewConn(fs.out, fs.in, 0))
	}()
	return cw, pr, pw, ch
}

func rewrite(t *testing.T, file string, data []byte, client, server []string) {
	var b strings.Builder
	// The comment before the first section stays.
	if i := strings.Index(string(data), "-- "); i > 0 {
		b.Write(data[:i])
	}
	for _, s := range parseTxtar(string(data)) {
		if s.name == "want-client" || s.name == "want-server" {
			continue
		}
		b.WriteString("-- " + s.name + " --\n" + s.body)
	}
	b.WriteString("-- want-client --\n" + strings.Join(client, "\n") + "\n")
	b.WriteString("-- want-server --\n" + strings.Join(server, "\n") + "\n")
	if err := os.WriteFile(file, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// fakeServer is a scripted upstream speaking newline-delimited JSON-RPC.
type fakeServer struct {
	in  *io.PipeWriter // pump writes here
	out *io.PipeReader // pump reads here
	mu  sync.Mutex
	got []string
}

func newFakeServer(t *testing.T, script []string) *fakeServer {
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	fs := &fakeServer{in: inW, out: outR}
	replies := map[string]string{}
	tools := map[string]string{}
	var emits []string
	closeAfter := -1
	for _, l := range script {
		k, v, ok := strings.Cut(l, " => ")
		if !ok {
			t.Fatalf("bad server line %q", l)
		}
		switch {
		case k == "emit":
			emits = append(emits, v)
		case k == "close-after":
			fmt.Sscan(v, &closeAfter)
		case strings.HasPrefix(k, "tool "):
			tools[strings.TrimPrefix(k, "tool ")] = v
		case strings.HasPrefix(k, "task "):
			tools["task:"+strings.TrimPrefix(k, "task ")] = v
		default:
			replies[k] = v
		}
	}
	w := jsonrpc.NewWriter(outW)
	go func() {
		defer outW.Close()
		for _, e := range emits {
			_ = w.Write([]byte(e))
		}
		r := jsonrpc.NewReader(inR, 0)
		for {
			frame, err := r.Next()
			if err != nil {
				return
			}
			fs.mu.Lock()
			fs.got = append(fs.got, string(frame))
			n := len(fs.got)
			fs.mu.Unlock()
			if n == closeAfter {
				go io.Copy(io.Discard, inR)
				return
			}
			if jsonrpc.IsBatch(frame) {
				elems, _ := jsonrpc.SplitBatch(frame, false)
				var outs []string
				for _, e := range elems {
					if o := answer(e, replies, tools); o != "" {
						outs = append(outs, o)
					}
				}
				if len(outs) > 0 {
					_ = w.Write([]byte("[" + strings.Join(outs, ",") + "]"))
				}
				continue
			}
			if o := answer(frame, replies, tools); o != "" {
				// {{nl}}: messages sent one after the other (a Writer
				// writes one line per frame).
				for _, m := range strings.Split(o, "\n") {
					_ = w.Write([]byte(m))
				}
			}
		}
	}()
	return fs
}

func answer(frame []byte, replies, tools map[string]string) string {
	m, err := jsonrpc.Parse(frame, false)
	if err != nil || !m.IsRequest() {
		return ""
	}
	tmpl, ok := replies[m.Method]
	args, name := "", ""
	if m.Method == "tools/call" {
		_ = jsonrpc.Members(m.Params, func(k string, v []byte) error {
			switch k {
			case "name":
				name, _ = jsonrpc.Unquote(v)
			case "arguments":
				args = string(v)
			}
			return nil
		})
		if r, found := tools[name]; found {
			tmpl, ok = `{"jsonrpc":"2.0","id":{{id}},"result":`+r+`}`, true
		} else if r, found := replies["unknown-tool"]; found {
			tmpl, ok = r, true
		}
	}
	if strings.HasPrefix(m.Method, "tasks/") && m.Method != "tasks/list" {
		_ = jsonrpc.Members(m.Params, func(k string, v []byte) error {
			if k == "taskId" {
				name, _ = jsonrpc.Unquote(v)
			}
			return nil
		})
		if r, found := tools["task:"+name]; found {
			tmpl, ok = `{"jsonrpc":"2.0","id":{{id}},"result":`+r+`}`, true
		} else if r, found := replies["unknown-task"]; found {
			tmpl, ok = r, true
		}
	}
	if !ok {
		tmpl, ok = replies["*"]
	}
	if !ok {
		return ""
	}
	return strings.NewReplacer("{{id}}", string(m.ID), "{{args}}", args, "{{name}}", name, "{{nl}}", "\n").Replace(tmpl)
}

func (fs *fakeServer) received() int {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return len(fs.got)
}

// probeName matches the names Tollgate asks a server about in place of a
// hidden tool; they are random, so transcripts show them as *.
var probeName = regexp.MustCompile(`tollgate_probe_[a-z2-7]+`)

func (fs *fakeServer) lines() []string {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	out := slices.Clone(fs.got)
	for i := range out {
		out[i] = probeName.ReplaceAllString(out[i], "tollgate_probe_*")
	}
	return out
}
