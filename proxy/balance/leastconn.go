package balance

import "sync/atomic"

// leastConn takes the server with the fewest requests in flight per unit
// of weight. The scan starts at a rotating offset so that ties spread.
type leastConn struct {
	counter atomic.Uint64
}

func newLeastConn([]int) Policy { return &leastConn{} }

func (lc *leastConn) Pick(p Pool, cand []int) int {
	start := int(lc.counter.Add(1) % uint64(len(cand)))
	best, bestScore := -1, 0.0
	for k := range cand {
		i := cand[(start+k)%len(cand)]
		score := float64(p.Inflight(i)) / float64(p.Weight(i))
		if best < 0 || score < bestScore {
			best, bestScore = i, score
		}
	}
	return best
}
