// Package proxy is the session pump: it relays JSON-RPC frames between a
// client and an upstream server in both directions at once, hands every
// tools/call to a Gate before it may pass, removes hidden tools from
// tools/list results, and keeps ids byte-for-byte. It knows transports and
// gates only through the small interfaces in gate.go.
package proxy

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/jsonrpc"
	"github.com/tollgate-mcp/tollgate/internal/mcp"
	"github.com/tollgate-mcp/tollgate/internal/procs"
	"github.com/tollgate-mcp/tollgate/internal/transport"
)

// pump relays one session; Handler.Serve builds one and runs it once.
type pump struct {
	client  transport.Conn // toward the agent
	server  transport.Conn // toward the upstream server
	gate    Gate
	session *transport.Session
	log     *slog.Logger
	slow    time.Duration // slowStore, as the pump started

	mu      sync.Mutex
	pending map[string]*pending // requests from the client awaiting the server, by raw id
	aliases map[string]string   // canonical id → raw id, for ids a server may re-encode
	wg      sync.WaitGroup      // judgeAsync goroutines

	asked map[string]chan reply // Tollgate's own requests to the client, by raw id
	// peerAsks are the server's sampling and elicitation requests the
	// client has not answered yet (by id key → method), whose answers the
	// gate inspects.
	peerAsks map[string]string

	// lists keeps the last tools/list result read: servers send the same
	// list again and again.
	lists mcp.ToolListCache

	// alone counts the requests registered one at a time since messages
	// last overlapped (a request while another was in flight, or messages
	// queued behind one another): see aloneCalls.
	alone atomic.Int32
}

// aloneCalls is how many requests must have come one at a time before the
// pump judges a call that may wait on a store on its read loop, as it
// judges every other call. Handed off, such a call costs a goroutine
// hand-off and a second parse; judged in place, it holds the messages
// behind it for the store's round trip, which only matters when there
// are any: once messages overlap, calls are handed off again (measured,
// docs/performance.md).
const aloneCalls = 8

// slowStore is how long a call judged on the read loop may wait on its
// store before the pump hands calls off again (see aloneCalls): a
// reservation takes tens to hundreds of microseconds (SQLite, Redis), and
// one that takes longer (a lock another process holds, a slow network) may
// take long again, holding the messages behind it. A pump reads it when it
// starts (tests change it between pumps: a loaded test machine takes more
// than a millisecond now and then, where the pump's choice is not what a
// test checks).
var slowStore = time.Millisecond

// overlapped notes that messages overlap: calls that may wait on a store
// are handed off the read loop until aloneCalls requests came one at a
// time again.
func (p *pump) overlapped() {
	if p.alone.Load() != 0 {
		p.alone.Store(0)
	}
	procs.Loaded()
}

// reply is a client's response to one of Tollgate's own requests.
type reply struct{ result, err []byte }

type kind uint8

const (
	kindOther      kind = iota
	kindInitialize      // initialize, server/discover: the answer may name the version, and carries the server's instructions
	kindList
	kindCall
	kindProbe    // a call answered as for an unknown tool: see Ruling.Unknown
	kindRead     // resources/read, prompts/get, their lists and completion/complete: the gate may filter the answer
	kindListen   // subscriptions/listen: open while its stream is
	kindTaskList // tasks/list (2025-11-25): the answer lists only visible tasks
	kindTask     // tasks/get, tasks/result, tasks/update, tasks/cancel of a visible task: its result is inspected
)

type pending struct {
	kind   kind
	ticket Ticket
	batch  *batch
	slot   int
	// cancelled: the client sent notifications/cancelled for this request.
	cancelled bool
	// probe and tool, for kindProbe: the name the server was asked about,
	// and the name the client called, to put back in the answer.
	probe, tool string
	// listen, for kindListen: what the subscription asked for; acked once
	// the server acknowledged it (nothing may precede the
	// acknowledgement on the stream).
	listen mcp.Listen
	acked  bool
	// task, for kindCall: a task-augmented call (2025-11-25), whose
	// result may be a task.
	task bool
	// taskResult, for kindTask (whose task id is in tool): the answer is
	// the task's result itself (tasks/result), not the task's state.
	taskResult bool
}

// ErrUpstreamClosed is returned by Run when the server side ended first.
var ErrUpstreamClosed = errors.New("upstream closed the connection")

// run relays until the client's input ends and the server has finished
// answering, or until the server's output ends, or ctx is done. It returns
// only after every goroutine it started has stopped. It returns nil when the
// client ended the session, ErrUpstreamClosed when the server did.
func (p *pump) run(ctx context.Context) error {
	p.pending = make(map[string]*pending)
	p.asked = make(map[string]chan reply)
	p.session.SetAsk(p.ask)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	clientDone := make(chan error, 1)
	serverDone := make(chan error, 1)
	go func() { clientDone <- p.clientLoop(ctx) }()
	go func() { serverDone <- p.serverLoop(ctx) }()
	watchDone := make(chan struct{})
	go func() { defer close(watchDone); p.watchLists(ctx) }()
	defer func() { cancel(); <-watchDone }()

	var result error
	select {
	case err := <-clientDone:
		// The client is gone: let calls being judged be forwarded, then
		// signal end of input upstream and wait for the server to finish.
		p.wg.Wait()
		if hc, ok := p.server.(transport.HalfCloser); ok {
			_ = hc.CloseWrite()
		} else {
			_ = p.server.Close()
		}
		select {
		case <-serverDone:
		case <-ctx.Done():
			_ = p.server.Close()
			<-serverDone
		}
		result = err
	case err := <-serverDone:
		p.failPending("upstream server closed the connection before answering")
		_ = p.client.Close()
		<-clientDone
		p.wg.Wait()
		result = err
		if result == nil {
			result = ErrUpstreamClosed
		}
	case <-ctx.Done():
		_ = p.client.Close()
		_ = p.server.Close()
		<-clientDone
		<-serverDone
		p.wg.Wait()
		result = ctx.Err()
	}
	p.abandon()
	return result
}

// failPending answers every request still waiting for the server with an
// error, so the client is never left waiting in silence.
func (p *pump) failPending(msg string) {
	p.mu.Lock()
	ids := make([]string, 0, len(p.pending))
	for id, pd := range p.pending {
		if pd.batch == nil {
			ids = append(ids, id)
		}
	}
	p.mu.Unlock()
	for _, id := range ids {
		p.toClient(jsonrpc.AppendError(nil, []byte(id), jsonrpc.CodeInternalError, msg, nil))
	}
}

// abandon tells every ticket still waiting that no response will come.
func (p *pump) abandon() {
	p.mu.Lock()
	left := p.pending
	p.pending = map[string]*pending{}
	p.mu.Unlock()
	for _, pd := range left {
		if pd.ticket != nil {
			pd.ticket.Done(End{Cancelled: pd.cancelled})
		}
	}
}

// listChanged is what a client is sent when a reload changes its tool list.
var listChanged = []byte(`{"jsonrpc":"2.0","method":"notifications/tools/list_changed"}`)

// watchLists tells the client when what tools/list shows changes under the
// gate, once the session is under way, until ctx ends.
func (p *pump) watchLists(ctx context.Context) {
	for {
		ch := p.gate.ListChanged()
		if ch == nil {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-ch:
			switch v := p.session.Version(); {
			case mcp.Stateless(v):
				// No stream is the session's: the change is told on each
				// subscriptions/listen stream that asked for it, tagged.
				for _, sub := range p.listening() {
					p.toClient(mcp.AppendListChanged(nil, sub))
				}
			case v != "":
				p.toClient(listChanged)
			}
		}
	}
}

func (p *pump) clientLoop(ctx context.Context) error {
	toServer, toClient := newOutbox(p.server), newOutbox(p.client)
	defer toServer.endBurst(p)
	defer toClient.endBurst(p)
	parsed, _ := p.client.(transport.ParsedReader)
	for {
		var (
			frame []byte
			pre   *jsonrpc.Message
			err   error
		)
		if parsed != nil {
			frame, pre, err = parsed.ReadParsed()
		} else {
			frame, err = p.client.Read()
		}
		if err != nil {
			if errors.Is(err, jsonrpc.ErrFrameTooLarge) {
				p.log.Warn("rejected an oversized message from the client", "err", err)
				p.toClient(jsonrpc.AppendError(nil, nil, jsonrpc.CodeInvalidRequest, err.Error(), nil))
				continue
			}
			if errors.Is(err, io.EOF) || errors.Is(err, transport.ErrClosed) {
				return nil
			}
			return fmt.Errorf("read from client: %w", err)
		}
		if jsonrpc.IsBatch(frame) {
			p.clientBatch(ctx, frame)
			continue
		}
		burst := more(p.client)
		if burst {
			// Messages queue behind this one: see procs.Loaded.
			p.overlapped()
		}
		out := p.fromClient(ctx, frame, pre, nil, 0)
		if out.answer != nil {
			toClient.send(p, out.answer, burst, nil)
		}
		if out.forward {
			if out.frame != nil {
				frame = out.frame
			}
			if err := toServer.send(p, frame, burst, nil); err != nil && out.id != nil {
				p.unsent(out.id, err)
			}
		}
		if !burst {
			toServer.endBurst(p)
			toClient.endBurst(p)
		}
	}
}

// outbox writes one loop's frames to a transport.Conn, deferring flushes within a
// burst of frames that were already buffered on the reading side. Each loop
// owns its outboxes.
type outbox struct {
	conn    transport.Conn
	d       transport.Deferrer
	r       transport.Responder
	pending bool
}

func newOutbox(c transport.Conn) *outbox {
	d, _ := c.(transport.Deferrer)
	r, _ := c.(transport.Responder)
	return &outbox{conn: c, d: d, r: r}
}

// send writes frame; id, when not nil, is the id of the response frame is
// (a slice of frame), told to a conn that is a transport.Responder.
func (o *outbox) send(p *pump, frame []byte, burst bool, id []byte) error {
	var err error
	if id != nil && o.r != nil {
		deferred := burst && o.d != nil
		o.pending = deferred // a write that is not deferred flushes
		err = o.r.WriteResponse(frame, jsonrpc.Offset(frame, id), len(id), deferred)
	} else if burst && o.d != nil {
		o.pending = true
		err = o.d.WriteDeferred(frame)
	} else {
		o.pending = false // Write flushes what was deferred
		err = o.conn.Write(frame)
	}
	if err != nil {
		p.log.Debug("write failed", "err", err)
	}
	return err
}

func (o *outbox) endBurst(p *pump) {
	if o.pending {
		o.pending = false
		if err := o.d.Flush(); err != nil {
			p.log.Debug("flush failed", "err", err)
		}
	}
}

// more reports whether the transport.Conn already holds another frame to read.
func more(c transport.Conn) bool {
	d, ok := c.(transport.Deferrer)
	return ok && d.More()
}

// verdict says what to do with one client message.
type verdict struct {
	forward bool
	answer  []byte // response to send the client (owned)
	frame   []byte // when forwarding, what to send in the message's place (owned)
	id      []byte // when forwarding a tools/call, its id
}

// fromClient judges one client message. b, slot place it in a batch. pre,
// when not nil, is what jsonrpc.Parse(frame, true) returns, given by the
// conn (transport.ParsedReader); it is used only when it is frame's.
func (p *pump) fromClient(ctx context.Context, frame []byte, pre *jsonrpc.Message, b *batch, slot int) verdict {
	var (
		m   jsonrpc.Message
		err error
	)
	if pre != nil && len(pre.Raw) == len(frame) && len(frame) > 0 && &pre.Raw[0] == &frame[0] {
		m = *pre
	} else {
		m, err = jsonrpc.Parse(frame, true)
	}
	if err != nil {
		var rpcErr *jsonrpc.Error
		errors.As(err, &rpcErr)
		p.log.Warn("rejected a message from the client", "err", err)
		p.gate.Refused(p.session, nil, "rejected a message from the client: "+rpcErr.Message)
		return verdict{answer: jsonrpc.AppendError(nil, rpcErr.ID, rpcErr.Code, rpcErr.Message, nil)}
	}
	if canon, ok := mcp.Misspelt(m.Method); ok {
		// A lenient server would run it as canon, which the gate never saw.
		msg := fmt.Sprintf("invalid request: method %q reads as %q; send the method by its exact name", m.Method, canon)
		p.log.Warn("rejected a message from the client", "err", msg)
		p.gate.Refused(p.session, nil, msg)
		if !m.IsRequest() {
			return verdict{}
		}
		return verdict{answer: jsonrpc.AppendError(nil, m.ID, jsonrpc.CodeInvalidRequest, msg, nil)}
	}
	if !m.IsRequest() {
		if m.IsNotification() {
			p.noteEra(m.Params)
			switch m.Method {
			case mcp.MethodToolsCall, mcp.MethodResourcesRead, mcp.MethodPromptsGet, mcp.MethodResourcesSubscribe, mcp.MethodCompletion:
				p.dropCall(m.Method, m.Params)
				return verdict{}
			case mcp.NotificationCancelled:
				p.cancelled(m.Params)
			}
			if m.Params != nil {
				return p.clientNotification(m, frame)
			}
		} else if p.answered(m) {
			return verdict{}
		} else if out, ok := p.peerAnswer(m, frame); ok {
			if out == nil {
				return verdict{}
			}
			return verdict{forward: true, frame: out}
		}
		return verdict{forward: true}
	}
	p.noteEra(m.Params)
	if m.Method == mcp.MethodInitialize {
		if caps := mcp.ParamsValue(m.Params, "capabilities"); caps != nil {
			p.session.SetCapabilities(caps)
		}
	}
	k := kindOther
	switch m.Method {
	case mcp.MethodInitialize, mcp.MethodDiscover:
		k = kindInitialize
	case mcp.MethodToolsList:
		k = kindList
	case mcp.MethodToolsCall:
		k = kindCall
	case mcp.MethodResourcesRead, mcp.MethodPromptsGet, mcp.MethodPromptsList, mcp.MethodResourcesList, mcp.MethodTemplatesList, mcp.MethodCompletion:
		k = kindRead
	case mcp.MethodSubscriptionsListen:
		k = kindListen
	case mcp.MethodTasksList:
		k = kindTaskList
	}
	pd := &pending{kind: k, batch: b, slot: slot}
	switch k {
	case kindRead:
		pd.tool = m.Method
	case kindListen:
		pd.listen = mcp.ParseListen(m.Params)
	}
	var taskProbe []byte
	switch {
	case mcp.IsTaskMethod(m.Method):
		taskProbe = p.taskProbe(m, frame, pd)
	case k == kindListen && len(pd.listen.TaskIDs) > 0:
		var refuse []byte
		if taskProbe, refuse = p.listenTasks(m, frame); refuse != nil {
			return verdict{answer: refuse}
		}
	}
	if !p.register(m.ID, pd) {
		const msg = "invalid request: a request with this id is already in flight"
		p.gate.Refused(p.session, nil, msg+" (id "+truncate(m.ID, 64)+", method "+m.Method+")")
		return verdict{answer: jsonrpc.AppendError(nil, m.ID, jsonrpc.CodeInvalidRequest, msg, nil)}
	}
	if taskProbe != nil {
		return verdict{forward: true, frame: taskProbe}
	}
	if m.Method == mcp.MethodPromptsGet || m.Method == mcp.MethodResourcesRead {
		if h, ok := p.gate.(ReadHolder); ok {
			if reason, held := h.HeldRead(p.session, m.Method, m.Params); held {
				p.unregister(m.ID)
				return verdict{answer: jsonrpc.AppendError(nil, m.ID, jsonrpc.CodeInternalError, "refused by Tollgate's policy: "+reason, nil)}
			}
		}
	}
	var inspected []byte
	if sendsData(m.Method) && m.Params != nil {
		// What the client sends the server besides a call's arguments is
		// inspected as arguments are: the agent must not send through a
		// prompt's arguments or a resource's URI what it may not send
		// through a tool.
		out, refuse := p.gate.FilterPeer(p.session, m.Method, false, m.ID, frame, m.Params)
		if refuse != nil {
			p.unregister(m.ID)
			return verdict{answer: refuse}
		}
		if out != nil {
			inspected, frame = out, out
		}
	}
	// A retry's answers to the server's input requests are inspected
	// before the server reads them (mrtr.go).
	if (k == kindRead || pd.kind == kindTask) && mcp.ParamsValue(m.Params, "inputResponses") != nil {
		out, refuse := p.filterInputResponses(m.ID, frame)
		if refuse != nil {
			p.unregister(m.ID)
			return verdict{answer: refuse}
		}
		if &out[0] != &frame[0] {
			inspected = out
		}
	}
	if k != kindCall {
		if sendsData(m.Method) {
			// The policy's rules for the request (its requests section)
			// judge what the client sent, as a tool's rules judge a call:
			// last, so that nothing refuses it after its counters are
			// reserved. Its ticket is told how it ended.
			if j, ok := p.gate.(RequestJudge); ok {
				refuse, t := j.JudgeRequest(ctx, p.session, m.Method, m.ID, m.Params)
				if refuse != nil {
					p.unregister(m.ID)
					return verdict{answer: refuse}
				}
				if t != nil {
					p.mu.Lock()
					pd.ticket = t
					p.mu.Unlock()
				}
			}
		}
		return verdict{forward: true, frame: inspected}
	}
	call, err := mcp.ParseCall(m.Params)
	if err == nil && call.Retry {
		out, refuse := p.filterInputResponses(m.ID, frame)
		if refuse != nil {
			p.unregister(m.ID)
			return verdict{answer: refuse}
		}
		if &out[0] != &frame[0] {
			inspected, frame = out, out
			if m, err = jsonrpc.Parse(frame, true); err == nil {
				call, err = mcp.ParseCall(m.Params)
			}
		}
	}
	if err != nil {
		p.unregister(m.ID)
		p.gate.Refused(p.session, nil, "rejected a tools/call: "+err.Error())
		return verdict{answer: jsonrpc.AppendError(nil, m.ID, jsonrpc.CodeInvalidParams, err.Error(), nil)}
	}
	var judged time.Time // when a call that may wait on a store is judged here
	if b == nil {
		// Judging may wait on a store or a person: off the read loop, so
		// that the next message is read meanwhile. (A batch is judged in
		// place, so that it stays one unit.) A wait on a store is bounded
		// by the store's timeouts, and while calls come one at a time no
		// message waits behind it: such a call is judged here.
		switch w := p.gate.Waits(call.Name); {
		case w == WaitPerson || w == WaitStore && p.alone.Load() < aloneCalls:
			p.judgeAsync(ctx, frame)
			return verdict{}
		case w == WaitStore:
			judged = time.Now()
		}
	}
	v := p.ruled(m, frame, pd, call, p.gate.Judge(ctx, gateCall(p.session, m.ID, call)))
	if !judged.IsZero() && time.Since(judged) > p.slow {
		// The store was slow: whatever the client sent meanwhile waited
		// for it. The next calls are handed off until enough came alone.
		p.overlapped()
	}
	if v.forward && v.frame == nil {
		v.frame = inspected
	}
	return v
}

// gateCall is the Call the gate judges.
func gateCall(s *transport.Session, id []byte, c mcp.Call) *Call {
	return &Call{Session: s, ID: id, Tool: c.Name, Args: c.Args, Retry: c.Retry, RequestState: c.RequestState, InputResponses: c.InputResponses, Task: c.Task, Meta: c.Meta}
}

// ruled turns the gate's ruling on a call into what to do with it.
func (p *pump) ruled(m jsonrpc.Message, frame []byte, pd *pending, call mcp.Call, r Ruling) verdict {
	if r.Unknown {
		p.mu.Lock()
		pd.kind, pd.tool, pd.probe = kindProbe, call.Name, probeName()
		p.mu.Unlock()
		return verdict{forward: true, frame: probeFrame(m.ID, pd.probe, m.Params)}
	}
	if r.Answer != nil {
		p.unregister(m.ID)
		return verdict{answer: mcp.Completed(p.session.Version(), r.Answer)}
	}
	p.mu.Lock()
	pd.ticket, pd.task = r.Ticket, call.Task
	p.mu.Unlock()
	v := verdict{forward: true, id: m.ID}
	if r.Args != nil || r.Meta != nil {
		out, ok := r.edit(frame, m.Params, call)
		if !ok {
			// Never forward what the gate meant to change.
			p.unregister(m.ID)
			if pd.ticket != nil {
				pd.ticket.Done(End{Unsent: true})
			}
			return verdict{answer: jsonrpc.AppendError(nil, m.ID, jsonrpc.CodeInternalError, "internal error: the call's arguments could not be rewritten", nil)}
		}
		v.frame = out
	}
	if r.Fresh {
		in := frame
		if v.frame != nil {
			in = v.frame
		}
		out, ok := dropRetry(in)
		if !ok {
			p.unregister(m.ID)
			if pd.ticket != nil {
				pd.ticket.Done(End{Unsent: true})
			}
			return verdict{answer: jsonrpc.AppendError(nil, m.ID, jsonrpc.CodeInternalError, "internal error: the call's retry members could not be removed", nil)}
		}
		v.frame = out
	}
	return v
}

// Splice returns a copy of frame with part, a subslice of it, replaced by
// with; ok is false when part is not a non-empty subslice of frame.
func Splice(frame, part, with []byte) (out []byte, ok bool) {
	start := cap(frame) - cap(part)
	if len(part) == 0 || start < 0 || start+len(part) > len(frame) || &frame[start] != &part[0] {
		return nil, false
	}
	out = make([]byte, 0, len(frame)-len(part)+len(with))
	out = append(out, frame[:start]...)
	out = append(out, with...)
	return append(out, frame[start+len(part):]...), true
}

// dropCall judges and drops a request the gate governs that came as a
// notification: it has no id to answer, and a server that dispatches on
// the method alone would run it unjudged.
func (p *pump) dropCall(method string, params []byte) {
	var c *Call
	if method == mcp.MethodToolsCall {
		if call, err := mcp.ParseCall(params); err == nil {
			c = &Call{Session: p.session, Tool: call.Name, Args: call.Args}
		}
	}
	reason := "dropped a " + method + " sent as a notification (no id): such a message is never forwarded"
	p.log.Warn(reason)
	p.gate.Refused(p.session, c, reason)
}

// cancelled notes that the client cancelled one of its requests, so that
// its ticket knows the call may have run whatever the server answers.
func (p *pump) cancelled(params []byte) {
	id := mcp.ParamsValue(params, "requestId")
	if len(id) == 0 {
		return
	}
	p.mu.Lock()
	if pd := p.find(id); pd != nil {
		pd.cancelled = true
	}
	// A server that keys requests by a JavaScript object's property
	// names reads requestId "2" as the request 2 and the other way round:
	// marked too, a cancelled call keeps its charge whatever the server
	// then answers. Marking a call that was not cancelled only keeps a
	// charge a failure might have given back.
	if alt := jsonrpc.OtherKind(id); alt != nil {
		if pd := p.find(alt); pd != nil {
			pd.cancelled = true
		}
	}
	p.mu.Unlock()
}

// unsent finishes a call whose frame could not be written to the server.
// Only an error that proves nothing left (transport.ErrUnsent) tells the ticket the
// call was not sent; any other failure leaves the call waiting, as the
// server may have it.
func (p *pump) unsent(id []byte, err error) {
	if !errors.Is(err, transport.ErrUnsent) {
		return
	}
	pd := p.take(id)
	if pd == nil {
		return
	}
	if pd.ticket != nil {
		pd.ticket.Done(End{Unsent: true})
	}
	if pd.batch == nil {
		p.toClient(jsonrpc.AppendError(nil, id, jsonrpc.CodeInternalError, "the call could not be sent to the server: "+err.Error(), nil))
	}
}

// probeName returns a tool name no server has.
func probeName() string {
	return "tollgate_probe_" + strings.ToLower(rand.Text())
}

// probeFrame is the tools/call sent in place of a call to be answered as
// unknown: the same id and _meta (a 2026-07-28 server needs it), the probe
// name, and no arguments.
func probeFrame(id []byte, probe string, params []byte) []byte {
	out := make([]byte, 0, 128+len(id))
	out = append(out, `{"jsonrpc":"2.0","id":`...)
	out = append(out, id...)
	out = append(out, `,"method":"tools/call","params":{"name":`...)
	out = jsonrpc.AppendString(out, probe)
	out = append(out, `,"arguments":{}`...)
	if meta := mcp.ParamsValue(params, "_meta"); meta != nil {
		out = append(out, `,"_meta":`...)
		out = append(out, meta...)
	}
	return append(out, "}}"...)
}

// unprobe turns the server's answer about the probe name into the answer
// about the name the client called.
func unprobe(frame []byte, pd *pending) []byte {
	q := jsonrpc.AppendString(nil, pd.tool)
	return bytes.ReplaceAll(frame, []byte(pd.probe), q[1:len(q)-1])
}

// judgeAsync judges a call whose judging may block, off the read loop,
// then forwards it or answers it. The frame is copied because the reader
// reuses it, and the call is read again from the copy.
func (p *pump) judgeAsync(ctx context.Context, frame []byte) {
	job := judgeJob{p: p, ctx: ctx, frame: append([]byte(nil), frame...)}
	p.wg.Add(1)
	// A call handed off while another is still being judged: calls queue
	// for a store, and a process serving one session on one processor
	// gets a second one while that lasts.
	if inJudgement.Add(1) > 1 {
		procs.Busy()
	}
	select {
	case judgeJobs <- job: // a judge goroutine was idle
		return
	default:
	}
	if judging.Add(1) <= maxJudges {
		go judgeLoop(job)
		return
	}
	judging.Add(-1)
	go job.run()
}

// judgeJob is one call handed off the read loop of p's session.
type judgeJob struct {
	p     *pump
	ctx   context.Context
	frame []byte // owned
}

func (j judgeJob) run() {
	defer func() {
		inJudgement.Add(-1)
		j.p.wg.Done()
	}()
	j.p.judgeOff(j.ctx, j.frame)
}

// The judge goroutines of the process, shared by its sessions. judgeAsync
// starts one when a call must be taken off a read loop and none is idle,
// up to maxJudges (judging counts them); each then waits for the next call
// for as long as the process runs: a call the store may block on is judged
// by an idle one, on a stack already grown for the store, with no
// goroutine to start. A fresh goroutine per call grew and copied its stack
// every time, 13% of the CPU of SQLite at 16 in flight (measured). Beyond
// maxJudges busy ones (calls waiting for a person), a call gets a goroutine
// of its own. Shared, so that a process serving many sessions keeps no
// more of them than one serving a single session; an idle one's stack
// shrinks back at the next garbage collections.
var (
	judgeJobs   = make(chan judgeJob)
	judging     atomic.Int32 // judge goroutines started
	inJudgement atomic.Int32 // calls handed off a read loop and not yet judged
)

// maxJudges bounds the judge goroutines a process keeps: as many as the
// calls a client usually keeps in flight.
const maxJudges = 16

func judgeLoop(first judgeJob) {
	first.run()
	for j := range judgeJobs {
		j.run()
	}
}

// judgeOff judges a handed-off call, own (a copy of its frame, read again
// here), and forwards it or answers it.
func (p *pump) judgeOff(ctx context.Context, own []byte) {
	m, err := jsonrpc.Parse(own, false)
	var call mcp.Call
	if err == nil {
		call, err = mcp.ParseCall(m.Params)
	}
	if err != nil { // cannot happen: own is the frame read once already
		p.unregister(m.ID)
		return
	}
	p.mu.Lock()
	pd := p.pending[string(m.ID)]
	p.mu.Unlock()
	if pd == nil {
		// The session ended before the call was judged: it is not
		// judged, nor sent.
		return
	}
	v := p.ruled(m, own, pd, call, p.gate.Judge(ctx, gateCall(p.session, m.ID, call)))
	if v.answer != nil {
		p.toClient(v.answer)
		return
	}
	out := own
	if v.frame != nil {
		out = v.frame
	}
	p.mu.Lock()
	still := p.pending[string(m.ID)] == pd
	p.mu.Unlock()
	if !still {
		// Answered (a server replying to a cancellation it has not
		// matched) or the session ended while the call was being
		// judged: it is not sent now, and its ticket knows.
		if pd.ticket != nil {
			pd.ticket.Done(End{Unsent: true})
		}
		return
	}
	if err := p.server.Write(out); err != nil {
		p.log.Warn("write to server failed", "err", err)
		p.unsent(m.ID, err)
	}
}

// ask implements transport.Session.Ask.
func (p *pump) ask(ctx context.Context, method string, params []byte) (result, rpcErr []byte, err error) {
	// The id is random so that no server→client request can carry it: a
	// client's answer to a server's request must never be taken for an
	// answer to Tollgate's own (an inline approval).
	id := `"tollgate-` + strings.ToLower(rand.Text()) + `"`
	p.mu.Lock()
	ch := make(chan reply, 1)
	p.asked[id] = ch
	p.mu.Unlock()
	msg := []byte(`{"jsonrpc":"2.0","id":` + id + `,"method":`)
	msg = jsonrpc.AppendString(msg, method)
	msg = append(msg, `,"params":`...)
	msg = append(msg, params...)
	msg = append(msg, '}')
	if err := p.client.Write(msg); err != nil {
		p.mu.Lock()
		delete(p.asked, id)
		p.mu.Unlock()
		return nil, nil, fmt.Errorf("ask the client %s: %w", method, err)
	}
	select {
	case r := <-ch:
		return r.result, r.err, nil
	case <-ctx.Done():
		p.mu.Lock()
		delete(p.asked, id)
		p.mu.Unlock()
		p.toClient([]byte(`{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":` + id + `,"reason":"Tollgate stopped waiting"}}`))
		return nil, nil, fmt.Errorf("ask the client %s: %w", method, context.Cause(ctx))
	}
}

// answered delivers a client response to one of Tollgate's own requests and
// reports whether it was one.
func (p *pump) answered(m jsonrpc.Message) bool {
	if len(m.ID) == 0 || m.ID[0] != '"' {
		return false
	}
	p.mu.Lock()
	ch, ok := p.asked[string(m.ID)]
	delete(p.asked, string(m.ID))
	p.mu.Unlock()
	if ok {
		ch <- reply{result: clone(m.Result), err: clone(m.Error)}
	}
	return ok
}

func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte(nil), b...)
}

var metaVersionKey = []byte(mcp.MetaProtocolVersion)

// noteEra records the protocol revision a 2026-07-28 request carries in _meta.
func (p *pump) noteEra(params []byte) {
	if len(params) == 0 || !bytes.Contains(params, metaVersionKey) {
		return
	}
	if v := mcp.MetaString(params, mcp.MetaProtocolVersion); v != "" && p.session.Version() != v {
		p.session.SetVersion(v)
		if caps := mcp.MetaValue(params, mcp.MetaClientCapabilities); caps != nil {
			p.session.SetCapabilities(caps)
		}
	}
}

func (p *pump) register(id []byte, pd *pending) bool {
	key := string(id)
	canon, plain := key, jsonrpc.PlainID(id)
	if !plain {
		canon = jsonrpc.IDKey(id)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, dup := p.pending[key]; dup {
		return false
	}
	if plain && len(p.aliases) > 0 {
		// An escaped or re-spelt form of this id may be in flight.
		if _, dup := p.aliases[jsonrpc.IDKey(id)]; dup {
			return false
		}
	}
	if !plain {
		// So may its plain form.
		if pf, ok := jsonrpc.PlainForm(canon); ok {
			if _, dup := p.pending[pf]; dup {
				return false
			}
		}
	}
	if canon != key {
		if _, dup := p.aliases[canon]; dup {
			return false
		}
		if p.aliases == nil {
			p.aliases = make(map[string]string)
		}
		p.aliases[canon] = key
	}
	p.pending[key] = pd
	if len(p.pending) > 1 {
		// Requests overlap: see procs.Loaded.
		p.overlapped()
	} else if p.alone.Load() < aloneCalls {
		p.alone.Add(1)
	}
	return true
}

func (p *pump) unregister(id []byte) {
	p.mu.Lock()
	delete(p.pending, string(id))
	if len(p.aliases) > 0 && !jsonrpc.PlainID(id) {
		delete(p.aliases, jsonrpc.IDKey(id))
	}
	p.mu.Unlock()
}

// find returns the pending request an id names, in any spelling a server
// would read as the same id. The caller holds p.mu.
func (p *pump) find(id []byte) *pending {
	if pd, ok := p.pending[string(id)]; ok {
		return pd
	}
	canon := jsonrpc.IDKey(id)
	if raw, ok := p.aliases[canon]; ok {
		return p.pending[raw]
	}
	if pf, ok := jsonrpc.PlainForm(canon); ok {
		return p.pending[pf]
	}
	return nil
}

// take removes and returns the pending request a server response answers,
// found by its id in any spelling a server would read as the same.
func (p *pump) take(id []byte) *pending {
	p.mu.Lock()
	defer p.mu.Unlock()
	if pd, ok := p.pending[string(id)]; ok {
		delete(p.pending, string(id))
		if len(p.aliases) > 0 && !jsonrpc.PlainID(id) {
			delete(p.aliases, jsonrpc.IDKey(id))
		}
		return pd
	}
	canon := jsonrpc.IDKey(id)
	raw, ok := p.aliases[canon]
	if ok {
		delete(p.aliases, canon)
	} else if raw, ok = jsonrpc.PlainForm(canon); !ok {
		return nil
	}
	pd := p.pending[raw]
	delete(p.pending, raw)
	return pd
}

func (p *pump) serverLoop(ctx context.Context) error {
	toClient := newOutbox(p.client)
	defer toClient.endBurst(p)
	for {
		frame, err := p.server.Read()
		if err != nil {
			if errors.Is(err, jsonrpc.ErrFrameTooLarge) {
				p.log.Warn("dropped an oversized message from the server", "err", err)
				continue
			}
			if errors.Is(err, io.EOF) || errors.Is(err, transport.ErrClosed) {
				return nil
			}
			return fmt.Errorf("read from server: %w", err)
		}
		if jsonrpc.IsBatch(frame) {
			p.serverBatch(frame)
			continue
		}
		burst := more(p.server)
		if burst {
			p.overlapped()
		}
		if out, id := p.fromServer(frame); out != nil {
			toClient.send(p, out, burst, id)
		}
		if !burst {
			toClient.endBurst(p)
		}
	}
}

// fromServer handles one server message and returns what to send the client
// (nil: nothing now), and, when that is the server's response as it came,
// its id (a slice of out; nil otherwise).
func (p *pump) fromServer(frame []byte) (out, id []byte) {
	m, err := jsonrpc.Parse(frame, false)
	if err != nil {
		p.log.Warn("dropped a line from the server that is not a JSON-RPC message", "err", err, "line", truncate(frame, 200))
		return nil, nil
	}
	if !m.IsResponse() {
		if m.IsRequest() && (m.Method == mcp.MethodSampling || m.Method == mcp.MethodElicitation) {
			return p.peerRequest(m, frame), nil
		}
		if m.IsRequest() && m.Method == mcp.MethodRootsList {
			// The client's roots are data of the client's the server
			// gets: its answer is inspected as a sampling answer is.
			p.notePeerAsk(m.ID, m.Method)
			return frame, nil
		}
		if m.IsRequest() && m.Method == mcp.MethodTasksResult {
			// The client may have run a sampling or elicitation request as
			// a task (2025-11-25): its answer to this is that request's
			// answer, inspected as such (see peerAnswer).
			p.notePeerAsk(m.ID, m.Method)
			return frame, nil
		}
		if m.IsNotification() {
			return p.serverNotification(m, frame), nil
		}
		return frame, nil
	}
	out = p.response(m, frame)
	if len(out) == len(frame) && len(out) > 0 && &out[0] == &frame[0] && len(m.ID) > 0 {
		id = m.ID
	}
	return out, id
}

// response is fromServer's handling of a response m (read from frame).
func (p *pump) response(m jsonrpc.Message, frame []byte) []byte {
	pd := p.take(m.ID)
	out := frame
	switch {
	case pd == nil:
		// Unmatched: still never let a tool list through unfiltered.
		if m.Result != nil {
			out = p.filterList(frame, m.ID, m.Result)
		}
	case pd.kind == kindInitialize:
		if m.Result != nil {
			if v := mcp.ResultString(m.Result, "protocolVersion"); v != "" {
				p.session.SetVersion(v)
			}
			// The server's instructions reach the model as guidance:
			// inspected as its answers are.
			if f, ok := p.gate.(InstructionsFilter); ok {
				if ins := mcp.ParamsValue(m.Result, "instructions"); ins != nil {
					out = f.FilterInstructions(p.session, frame, m.Result, ins)
				}
			}
		}
	case pd.kind == kindList:
		if m.Result != nil {
			out = p.filterList(frame, m.ID, m.Result)
		}
	case pd.kind == kindRead:
		if pd.ticket != nil {
			// A request the policy's requests section governs.
			pd.ticket.Done(p.ended(pd, m.Result, m.Error))
		}
		switch {
		case m.Result != nil:
			out = p.gate.FilterResult(p.session, pd.tool, m.ID, frame, m.Result)
			if out != nil && mcp.ReadOutcome(m.Result).ResultType == mcp.ResultInputRequired {
				out = p.refilterInputRequests(m.ID, out)
			}
		case m.Error != nil:
			// An error is the server's answer too: its message and data
			// are inspected as a result is.
			out = p.gate.FilterResult(p.session, pd.tool, m.ID, frame, m.Error)
		}
	case pd.kind == kindCall:
		e := p.ended(pd, m.Result, m.Error)
		if f, ok := pd.ticket.(ResultFilter); ok {
			switch {
			case m.Result != nil:
				out = f.FilterResult(m.ID, frame, m.Result)
			case m.Error != nil:
				out = f.FilterResult(m.ID, frame, m.Error)
			}
		}
		if e.InputRequired && out != nil {
			out = p.refilterInputRequests(m.ID, out)
		}
		if pd.ticket != nil {
			pd.ticket.Done(e)
		}
	case pd.kind == kindProbe:
		out = unprobe(frame, pd)
	case pd.kind == kindTaskList:
		if m.Result != nil {
			out = p.filterTasks(frame, m.ID, m.Result)
		}
	case pd.kind == kindTask:
		switch {
		case m.Result != nil:
			out = p.filterTaskAnswer(pd.tool, pd.taskResult, m.ID, frame, m.Result)
		case m.Error != nil && pd.taskResult:
			// tasks/result of a failed task: the call's error, late.
			if f, ok := p.gate.(TaskResultFilter); ok {
				out = orWithheld(f.FilterTaskResult(p.session, pd.tool, frame, m.Error, true), m.ID)
			}
		}
	}
	if out == nil {
		return nil
	}
	if pd != nil && pd.batch != nil {
		if pd.batch.fill(pd.slot, out) {
			return pd.batch.encode()
		}
		return nil
	}
	return out
}

// filterList edits a tools/list answer under the policy. An answer it
// cannot read is withheld: the client gets an error in its place, never
// a list that may hold hidden tools.
func (p *pump) filterList(frame, id, result []byte) []byte {
	hidden, listed := p.gate.Lists()
	h, holds := p.gate.(ListHolder)
	holds = holds && h.HoldsTools()
	if hidden == nil && listed == nil && !holds {
		return frame
	}
	list, err := p.lists.Read(result)
	if err != nil {
		p.log.Warn("withheld an unreadable tools/list result from the server", "err", err)
		if id == nil {
			return nil
		}
		return jsonrpc.AppendError(nil, id, jsonrpc.CodeInternalError,
			"the server's tools/list result could not be read, so it was withheld: "+err.Error(), nil)
	}
	if holds {
		hidden = either(hidden, h.HoldTools(p.session, result, list))
	}
	if hidden == nil && listed == nil {
		return frame
	}
	out := list.Filter(frame, result, mcp.ToolFilter{Hidden: hidden, Seen: listed})
	if hidden != nil {
		// A list the policy may cut is this gate's view, not the
		// server's: never to be shared across callers by a cache.
		out = mcp.PrivateScope(out, mcp.Stateless(p.session.Version()))
	}
	return out
}

func (p *pump) toClient(frame []byte) {
	if err := p.client.Write(frame); err != nil {
		p.log.Debug("write to client failed", "err", err)
	}
}

func (p *pump) toServer(frame []byte) {
	if err := p.server.Write(frame); err != nil {
		p.log.Warn("write to server failed", "err", err)
	}
}

func truncate(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "…"
	}
	return string(b)
}

// peerRequest lets the gate inspect a server's sampling or elicitation
// request before the client (and the person or model behind it) sees it.
// A refused request is answered to the server and not passed on.
func (p *pump) peerRequest(m jsonrpc.Message, frame []byte) []byte {
	out, refuse := p.gate.FilterPeer(p.session, m.Method, false, m.ID, frame, m.Params)
	if refuse != nil {
		p.toServer(refuse)
		return nil
	}
	p.notePeerAsk(m.ID, m.Method)
	if out == nil {
		return frame
	}
	return out
}

// clientNotification passes a client's notification with params (a
// cancellation's reason, a progress message) through the gate's inspect
// of what the client sends (its arguments detectors, see FilterPeer): what
// is redacted is forwarded redacted; what is denied is not forwarded, but
// for a cancellation, which the server still gets with the request id
// alone.
func (p *pump) clientNotification(m jsonrpc.Message, frame []byte) verdict {
	out, refuse := p.gate.FilterPeer(p.session, m.Method, false, []byte("null"), frame, m.Params)
	switch {
	case refuse == nil && out == nil:
		return verdict{forward: true}
	case refuse == nil:
		return verdict{forward: true, frame: out}
	case m.Method == mcp.NotificationCancelled:
		if id := mcp.ParamsValue(m.Params, "requestId"); id != nil {
			b := append([]byte(`{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":`), id...)
			return verdict{forward: true, frame: append(b, "}}"...)}
		}
	}
	return verdict{}
}

// sendsData reports whether a client request other than a tools/call
// carries data of the client's to the server, which the gate inspects with
// the arguments detectors of the method's inspect entry (see FilterPeer).
func sendsData(method string) bool {
	switch method {
	case mcp.MethodPromptsGet, mcp.MethodResourcesRead, mcp.MethodResourcesSubscribe, mcp.MethodCompletion:
		return true
	}
	return false
}

// notePeerAsk remembers a server's request to the client whose answer the
// gate inspects (see peerAnswer).
func (p *pump) notePeerAsk(id []byte, method string) {
	p.mu.Lock()
	if p.peerAsks == nil {
		p.peerAsks = make(map[string]string)
	}
	p.peerAsks[jsonrpc.IDKey(id)] = method
	p.mu.Unlock()
}

// peerAnswer lets the gate inspect the client's answer to a server's
// sampling or elicitation request. ok is false when the message answers
// nothing of the kind; out is the frame to forward, nil when the answer was
// refused (the server was told instead).
func (p *pump) peerAnswer(m jsonrpc.Message, frame []byte) (out []byte, ok bool) {
	if m.Result == nil {
		p.mu.Lock()
		delete(p.peerAsks, jsonrpc.IDKey(m.ID))
		p.mu.Unlock()
		return frame, false
	}
	p.mu.Lock()
	key := jsonrpc.IDKey(m.ID)
	method, ok := p.peerAsks[key]
	delete(p.peerAsks, key)
	p.mu.Unlock()
	if !ok {
		return nil, false
	}
	methods := []string{method}
	if method == mcp.MethodTasksResult {
		// The result of a task the client ran for the server: the answer
		// to a sampling or elicitation request, told by its shape.
		methods = responseMethods(m.Result)
	}
	out = frame
	for i, method := range methods {
		result := m.Result
		if i > 0 && &out[0] != &frame[0] {
			// Redacted under the first: read the answer again.
			again, err := jsonrpc.Parse(out, false)
			if err != nil || again.Result == nil {
				break
			}
			result = again.Result
		}
		o, refuse := p.gate.FilterPeer(p.session, method, true, m.ID, out, result)
		if refuse != nil {
			p.toServer(refuse)
			return nil, true
		}
		if o != nil {
			out = o
		}
	}
	return out, true
}
