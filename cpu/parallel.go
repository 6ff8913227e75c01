package cpu

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// pool runs a loop body over [0, total) on all cores. The calling goroutine is worker 0;
// workers 1..n-1 are long-lived goroutines, so a steady-state run allocates nothing.
type pool struct {
	n     int
	wake  []chan *task
	task  task
	close sync.Once
}

// chunker is a prepared kernel whose work splits into index ranges.
type chunker interface {
	chunk(worker, lo, hi int)
}

type task struct {
	fn    chunker
	total int
	grain int
	next  atomic.Int64
	wg    sync.WaitGroup
}

func newPool(threads int) *pool {
	if threads <= 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	p := &pool{n: threads}
	for w := 1; w < threads; w++ {
		ch := make(chan *task)
		p.wake = append(p.wake, ch)
		go func(worker int, ch chan *task) {
			for t := range ch {
				t.work(worker)
				t.wg.Done()
			}
		}(w, ch)
	}
	return p
}

func (t *task) work(worker int) {
	for {
		lo := int(t.next.Add(int64(t.grain))) - t.grain
		if lo >= t.total {
			return
		}
		t.fn.chunk(worker, lo, min(lo+t.grain, t.total))
	}
}

// run calls fn.chunk(worker, lo, hi) over chunks of about grain items covering [0, total).
func (p *pool) run(total, grain int, fn chunker) {
	if total <= 0 {
		return
	}
	grain = max(1, min(grain, (total+p.n-1)/p.n))
	if p.n == 1 || total <= grain {
		fn.chunk(0, 0, total)
		return
	}
	t := &p.task
	t.fn, t.total, t.grain = fn, total, grain
	t.next.Store(0)
	helpers := min(len(p.wake), (total+grain-1)/grain-1)
	t.wg.Add(helpers)
	for i := 0; i < helpers; i++ {
		p.wake[i] <- t
	}
	t.work(0)
	t.wg.Wait()
	t.fn = nil
}

func (p *pool) stop() {
	p.close.Do(func() {
		for _, ch := range p.wake {
			close(ch)
		}
	})
}
