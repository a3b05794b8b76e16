package proxy

import (
	"errors"

	"github.com/tollgate-mcp/tollgate/internal/jsonrpc"
	"github.com/tollgate-mcp/tollgate/internal/mcp"
)

// Under multi round-trip requests (2026-07-28) a server no longer sends
// sampling and elicitation requests of its own: it embeds them in an
// input_required result (inputRequests), and the client's answers come
// back in the retry (inputResponses). The gate inspects them there as it
// inspects the requests and answers of earlier revisions (Gate.FilterPeer):
// what it redacts is changed in place, and what it denies is not passed
// on — the client gets the refusal as the answer to its call (a refused
// request), or to its retry (a refused answer, which never reaches the
// server).

var errStop = errors.New("stop")

// nthMember returns the i-th member of the object obj (0-based): its key
// and raw value, ok false when obj has fewer members.
func nthMember(obj []byte, i int) (key string, val []byte, ok bool) {
	n := 0
	_ = jsonrpc.Members(obj, func(k string, v []byte) error {
		if n == i {
			key, val, ok = k, v, true
			return errStop
		}
		n++
		return nil
	})
	return key, val, ok
}

// filterInputRequests passes an input_required result's embedded sampling
// and elicitation requests through the gate. It returns the frame to send
// the client: frame itself, a copy with what was redacted, or the
// refusal that answers the call in its place.
func (p *pump) filterInputRequests(id, frame, result []byte) []byte {
	if mcp.ResultType(result) != mcp.ResultInputRequired {
		return frame
	}
	out, refuse := p.filterEmbeddedRequests(id, frame, func(m jsonrpc.Message) []byte { return m.Result })
	if refuse != nil {
		return refuse
	}
	return out
}

// filterEmbeddedRequests passes the sampling and elicitation requests in
// the inputRequests member of in(m), the object of the message m in frame
// that holds them (a result, or a task status notification's params),
// through the gate. It returns the frame to pass on (frame itself, or a
// copy with what was redacted), or refuse, the refusal of id when a
// request is denied.
func (p *pump) filterEmbeddedRequests(id, frame []byte, in func(jsonrpc.Message) []byte) (out, refuse []byte) {
	// Each request is found again in the frame the previous one left:
	// every member is inspected, duplicate keys included.
	for i := 0; ; i++ {
		m, err := jsonrpc.Parse(frame, false)
		if err != nil {
			return frame, nil
		}
		reqs := mcp.ParamsValue(in(m), "inputRequests")
		if len(reqs) == 0 || reqs[0] != '{' {
			return frame, nil
		}
		_, req, ok := nthMember(reqs, i)
		if !ok {
			return frame, nil
		}
		method, _ := jsonrpc.Unquote(mcp.ParamsValue(req, "method"))
		params := mcp.ParamsValue(req, "params")
		if (method != mcp.MethodSampling && method != mcp.MethodElicitation) || params == nil {
			continue
		}
		o, r := p.gate.FilterPeer(p.session, method, false, id, frame, params)
		if r != nil {
			return nil, r
		}
		if o != nil {
			frame = o
		}
	}
}

// responseMethods tells which request an answer (an inputResponses value,
// a task's result) answers, by its shape: an ElicitResult has an action, a
// CreateMessageResult a role or a model. An answer of neither shape (a
// roots answer, or one a lenient server may still read as either) is
// inspected as both.
func responseMethods(v []byte) []string {
	switch {
	case mcp.ParamsValue(v, "action") != nil:
		return elicitationOnly
	case mcp.ParamsValue(v, "role") != nil || mcp.ParamsValue(v, "model") != nil:
		return samplingOnly
	}
	return eitherPeer
}

var (
	elicitationOnly = []string{mcp.MethodElicitation}
	samplingOnly    = []string{mcp.MethodSampling}
	eitherPeer      = []string{mcp.MethodSampling, mcp.MethodElicitation}
)

// filterInputResponses passes a retry's inputResponses through the gate
// before the server reads them. It returns the frame to forward (frame
// itself, or a copy with what was redacted), or refuse, the answer to
// the retry when an answer is denied.
func (p *pump) filterInputResponses(id, frame []byte) (out, refuse []byte) {
	for i := 0; ; i++ {
		v, ok := inputResponse(frame, i)
		if !ok {
			return frame, nil
		}
		for j, method := range responseMethods(v) {
			if j > 0 {
				// The frame may have changed: read the answer again.
				if v, ok = inputResponse(frame, i); !ok {
					return frame, nil
				}
			}
			o, r := p.gate.FilterPeer(p.session, method, true, id, frame, v)
			if r != nil {
				return nil, r
			}
			if o != nil {
				frame = o
			}
		}
	}
}

// inputResponse returns the i-th value of the inputResponses of the
// request in frame (0-based), ok false when there is none.
func inputResponse(frame []byte, i int) ([]byte, bool) {
	m, err := jsonrpc.Parse(frame, false)
	if err != nil {
		return nil, false
	}
	resps := mcp.ParamsValue(m.Params, "inputResponses")
	if len(resps) == 0 || resps[0] != '{' {
		return nil, false
	}
	_, v, ok := nthMember(resps, i)
	return v, ok
}

// refilterInputRequests is filterInputRequests over a frame that other
// filters may have replaced (its result is read again).
func (p *pump) refilterInputRequests(id, frame []byte) []byte {
	m, err := jsonrpc.Parse(frame, false)
	if err != nil || m.Result == nil {
		return frame
	}
	return p.filterInputRequests(id, frame, m.Result)
}
