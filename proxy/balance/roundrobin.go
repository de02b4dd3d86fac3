package balance

import (
	"sync"
	"sync/atomic"
)

// roundRobin is nginx's smooth weighted round robin. With equal weights it
// is a plain rotation on an atomic counter, without a lock.
type roundRobin struct {
	equal   bool
	counter atomic.Uint64

	mu      sync.Mutex
	current []int // current weight per server, by pool index
}

func newRoundRobin(weights []int) Policy {
	rr := &roundRobin{equal: true, current: make([]int, len(weights))}
	for _, w := range weights {
		if w != weights[0] {
			rr.equal = false
		}
	}
	return rr
}

func (rr *roundRobin) Pick(p Pool, cand []int) int {
	if rr.equal {
		return cand[int(rr.counter.Add(1)%uint64(len(cand)))]
	}
	rr.mu.Lock()
	defer rr.mu.Unlock()
	total, best := 0, -1
	for _, i := range cand {
		if i >= len(rr.current) {
			continue
		}
		rr.current[i] += p.Weight(i)
		total += p.Weight(i)
		if best < 0 || rr.current[i] > rr.current[best] {
			best = i
		}
	}
	if best < 0 {
		return cand[0]
	}
	rr.current[best] -= total
	return best
}
