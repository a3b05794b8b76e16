// Package memstore is the in-process approval.Store: for tests and
// --state memory. Approvals live as long as the process.
package memstore

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/approval"
)

var _ approval.Store = (*Store)(nil)

// Store keeps records in a map under one mutex. All methods are safe for
// concurrent use.
type Store struct {
	mu   sync.Mutex
	recs map[string]*approval.Record
	byFP map[string][]string // fingerprint → ids
}

// New returns an empty Store.
func New() *Store {
	return &Store{recs: map[string]*approval.Record{}, byFP: map[string][]string{}}
}

// Begin implements approval.Store.
func (s *Store) Begin(ctx context.Context, req approval.BeginRequest) (approval.BeginResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := s.byFP[req.New.Fingerprint]
	recs := make([]approval.Record, 0, len(ids))
	for _, id := range ids {
		recs = append(recs, *s.recs[id])
	}
	res, writes := approval.Plan(recs, req)
	for _, w := range writes {
		if _, ok := s.recs[w.ID]; !ok {
			s.byFP[w.Fingerprint] = append(s.byFP[w.Fingerprint], w.ID)
		}
		s.recs[w.ID] = &w
	}
	return res, nil
}

// Decide implements approval.Store.
func (s *Store) Decide(ctx context.Context, id string, d approval.Decision) (approval.Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.recs[id]
	if !ok || !approval.ValidID(id) {
		return approval.Record{}, approval.ErrNotFound
	}
	err := approval.ApplyDecision(r, d)
	return *r, err
}

// Consume implements approval.Store.
func (s *Store) Consume(ctx context.Context, id string, now time.Time) (approval.Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.recs[id]
	if !ok || !approval.ValidID(id) {
		return approval.Record{}, approval.ErrNotFound
	}
	err := approval.ApplyConsume(r, now)
	return *r, err
}

// Restore implements approval.Store.
func (s *Store) Restore(ctx context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.recs[id]; ok {
		approval.ApplyRestore(r)
	}
	return nil
}

// Get implements approval.Store.
func (s *Store) Get(ctx context.Context, id string, now time.Time) (approval.Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.recs[id]
	if !ok || !approval.ValidID(id) {
		return approval.Record{}, approval.ErrNotFound
	}
	return approval.Effective(*r, now), nil
}

// List implements approval.Store.
func (s *Store) List(ctx context.Context, f approval.Filter) ([]approval.Record, error) {
	now, limit := f.Now, f.Limit
	if now.IsZero() {
		now = time.Now()
	}
	if limit <= 0 {
		limit = 100
	}
	s.mu.Lock()
	out := make([]approval.Record, 0, len(s.recs))
	for _, r := range s.recs {
		e := approval.Effective(*r, now)
		if f.Status == "" || e.Status == f.Status {
			out = append(out, e)
		}
	}
	s.mu.Unlock()
	slices.SortFunc(out, newestFirst)
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

func newestFirst(a, b approval.Record) int {
	if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
		return c
	}
	if a.ID < b.ID {
		return -1
	}
	return 1
}

// Close implements approval.Store.
func (s *Store) Close() error { return nil }
