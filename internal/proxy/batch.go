package proxy

import (
	"context"
	"errors"
	"sync"

	"github.com/tollgate-mcp/tollgate/internal/jsonrpc"
	"github.com/tollgate-mcp/tollgate/internal/mcp"
)

// batch gathers the responses to one client batch, so that the client gets
// one array back with denied elements answered in place.
type batch struct {
	mu     sync.Mutex
	slots  [][]byte
	filled []bool
	left   int
}

// fill stores a response in its slot and reports whether the batch is now
// complete.
func (b *batch) fill(slot int, resp []byte) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.filled[slot] {
		return false
	}
	b.slots[slot] = append([]byte(nil), resp...)
	b.filled[slot] = true
	b.left--
	return b.left == 0
}

func (b *batch) encode() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []byte
	out = append(out, '[')
	n := 0
	for i, s := range b.slots {
		if !b.filled[i] {
			continue
		}
		if n > 0 {
			out = append(out, ',')
		}
		out = append(out, s...)
		n++
	}
	return append(out, ']')
}

// clientBatch governs every element of a client batch.
func (p *pump) clientBatch(ctx context.Context, frame []byte) {
	elems, err := jsonrpc.SplitBatch(frame, true)
	if err != nil {
		var rpcErr *jsonrpc.Error
		errors.As(err, &rpcErr)
		p.toClient(jsonrpc.AppendError(nil, nil, rpcErr.Code, rpcErr.Message, nil))
		return
	}
	if v := p.session.Version(); !mcp.SupportsBatch(v) {
		if v == "" {
			v = "not yet negotiated"
		}
		p.toClient(jsonrpc.AppendError(nil, nil, jsonrpc.CodeInvalidRequest,
			"invalid request: JSON-RPC batches are not allowed by protocol version "+v, nil))
		return
	}
	b := &batch{slots: make([][]byte, len(elems)), filled: make([]bool, len(elems))}
	// Count the responses expected before any can arrive.
	b.mu.Lock()
	var forward [][]byte
	for i, e := range elems {
		v := p.fromClient(ctx, e, nil, b, i)
		if v.answer != nil {
			b.slots[i], b.filled[i] = v.answer, true
			continue
		}
		if v.forward {
			if v.frame != nil {
				e = v.frame
			}
			forward = append(forward, e)
			if m, err := jsonrpc.Parse(e, false); err == nil && m.IsRequest() {
				b.left++
			}
		}
	}
	done := b.left == 0
	b.mu.Unlock()
	if len(forward) > 0 {
		out := make([]byte, 0, len(frame)+2)
		out = append(out, '[')
		for i, e := range forward {
			if i > 0 {
				out = append(out, ',')
			}
			out = append(out, e...)
		}
		out = append(out, ']')
		p.toServer(out)
	}
	if done {
		if answered := b.encode(); len(answered) > 2 {
			p.toClient(answered)
		}
	}
}

// serverBatch handles a batch from the server: responses to a client batch
// are gathered; anything else is passed on as an array of what remains.
func (p *pump) serverBatch(frame []byte) {
	elems, err := jsonrpc.SplitBatch(frame, false)
	if err != nil {
		p.log.Warn("dropped an unreadable batch from the server", "err", err)
		return
	}
	var rest [][]byte
	for _, e := range elems {
		m, err := jsonrpc.Parse(e, false)
		if err == nil && m.IsResponse() {
			p.mu.Lock()
			pd := p.pending[string(m.ID)]
			p.mu.Unlock()
			if pd != nil && pd.batch != nil {
				if out, _ := p.fromServer(e); out != nil {
					p.toClient(out)
				}
				continue
			}
		}
		if out, _ := p.fromServer(e); out != nil {
			rest = append(rest, append([]byte(nil), out...))
		}
	}
	if len(rest) == 0 {
		return
	}
	out := []byte{'['}
	for i, e := range rest {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, e...)
	}
	p.toClient(append(out, ']'))
}
