package gateway

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/decimal"

	"github.com/tollgate-mcp/tollgate/internal/approval"
	"github.com/tollgate-mcp/tollgate/internal/event"
	"github.com/tollgate-mcp/tollgate/internal/state"
)

// Recorder tags each decision event of one server's gate with the server's
// name, and its tool with the namespaced name the client calls it by,
// before passing it on: audit lines, metrics and status name the server.
type Recorder struct {
	Server    string
	Namespace string // prefix + separator
	Next      event.Recorder

	names sync.Map     // tool → Namespace+tool, built once per name
	n     atomic.Int32 // entries in names, at most maxNamespaced
}

// maxNamespaced bounds a Recorder's remembered names: tools a client
// makes up are named afresh once it is full.
const maxNamespaced = 4096

var _ event.ForwardRecorder = (*Recorder)(nil)

func (r *Recorder) tag(ev event.Event) event.Event {
	ev.Server = r.Server
	if ev.Tool != "" {
		ev.Tool = r.namespaced(ev.Tool)
	}
	return ev
}

// namespaced returns Namespace+tool, without building it each time.
func (r *Recorder) namespaced(tool string) string {
	if v, ok := r.names.Load(tool); ok {
		return v.(string)
	}
	full := r.Namespace + tool
	if r.n.Load() < maxNamespaced {
		// The key is a copy: tool may be part of a longer string.
		if _, had := r.names.LoadOrStore(strings.Clone(tool), full); !had {
			r.n.Add(1)
		}
	}
	return full
}

// Record implements event.Recorder.
func (r *Recorder) Record(ev event.Event) {
	if r.Next != nil {
		r.Next.Record(r.tag(ev))
	}
}

// Forwarded implements event.ForwardRecorder.
func (r *Recorder) Forwarded(ev event.Event) {
	if fr, ok := r.Next.(event.ForwardRecorder); ok {
		fr.Forwarded(r.tag(ev))
	}
}

// ScopedStore is one server's view of the state store every server shares:
// its counters' scopes are prefixed with "SERVER:" so that a limit of one
// server never counts another's calls of the same tool name (the
// gateway-wide policy's counters use the namespaced names, unprefixed).
// Close does nothing: the shared store is closed by its owner.
type ScopedStore struct {
	state.Store
	Server string
}

var _ state.Wrapper = (*ScopedStore)(nil)

// Unwrap implements state.Wrapper: the shared store's properties
// (NonBlocking, QuickCommit) are the view's.
func (s *ScopedStore) Unwrap() state.Store { return s.Store }

func (s *ScopedStore) key(k state.Key) state.Key {
	k.Scope = s.Server + ":" + k.Scope
	return k
}

// Reserve implements state.Store.
func (s *ScopedStore) Reserve(ctx context.Context, now time.Time, charges []state.Charge) (state.Result, error) {
	scoped := make([]state.Charge, len(charges))
	for i := range charges {
		scoped[i] = charges[i]
		scoped[i].Key = s.key(charges[i].Key)
	}
	return s.Store.Reserve(ctx, now, scoped)
}

// Peek implements state.Store.
func (s *ScopedStore) Peek(ctx context.Context, now time.Time, key state.Key, window time.Duration, align state.Align, loc *time.Location) (decimal.Decimal, error) {
	return s.Store.Peek(ctx, now, s.key(key), window, align, loc)
}

// Close implements state.Store; it leaves the shared store open.
func (s *ScopedStore) Close() error { return nil }

// ApprovalStore is one server's view of the approval store every server
// shares: the records it creates name the tool by its namespaced name, so
// that `tollgate approvals list`, the webhook and the person asked inline
// see which server a held call is for. Matching is unchanged: a record is
// found by its fingerprint, which each server's policy revision makes its
// own. Close does nothing: the shared store is closed by its owner.
type ApprovalStore struct {
	approval.Store
	Namespace string // prefix + separator
}

var _ approval.Store = (*ApprovalStore)(nil)

// Begin implements approval.Store.
func (s *ApprovalStore) Begin(ctx context.Context, req approval.BeginRequest) (approval.BeginResult, error) {
	req.New.Tool = s.Namespace + req.New.Tool
	return s.Store.Begin(ctx, req)
}

// Close implements approval.Store; it leaves the shared store open.
func (s *ApprovalStore) Close() error { return nil }
