package gate

import (
	"context"
	"sync"
)

// pinQueueMax bounds the lists waiting to be recorded: a caller that finds
// the queue full waits for it to drain and records its own list itself, so
// a slow store slows the lists' answers rather than growing the queue.
const pinQueueMax = 16

// pinQueue records lists off the answers' path, one at a time and in the
// order they were seen, when pins hold nothing (pins: record, or enforce
// under monitor): what the client is shown cannot depend on the record,
// so the answer need not wait for the store (at the first tools/list of a
// process, opening and writing the state file took about 7 ms of a
// start-up).
type pinQueue struct {
	mu   sync.Mutex
	jobs []func()
	idle chan struct{} // nil when no worker runs; closed when it stops
}

// add queues job, and starts the worker if none runs. It reports false,
// queuing nothing, when the queue is full.
func (q *pinQueue) add(job func()) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.jobs) >= pinQueueMax {
		return false
	}
	q.jobs = append(q.jobs, job)
	if q.idle == nil {
		q.idle = make(chan struct{})
		go q.work()
	}
	return true
}

func (q *pinQueue) work() {
	for {
		q.mu.Lock()
		if len(q.jobs) == 0 {
			close(q.idle)
			q.idle = nil
			q.mu.Unlock()
			return
		}
		job := q.jobs[0]
		q.jobs[0] = nil
		q.jobs = q.jobs[1:]
		q.mu.Unlock()
		job()
	}
}

// busy reports whether a job is queued or running.
func (q *pinQueue) busy() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.idle != nil
}

// wait returns when every queued job has run, or when ctx is done.
func (q *pinQueue) wait(ctx context.Context) error {
	for {
		q.mu.Lock()
		idle := q.idle
		q.mu.Unlock()
		if idle == nil {
			return nil
		}
		select {
		case <-idle:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// FlushPins waits until every list seen so far is recorded, at most until
// ctx is done. A command calls it before it closes the state store and the
// audit trail the records go to.
func (g *Gate) FlushPins(ctx context.Context) error { return g.pinq.wait(ctx) }
