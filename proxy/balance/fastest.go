package balance

import "sync/atomic"

// fastest takes the server with the lowest latency average; a server not
// measured yet is taken first so that it gets a figure. The scan starts at
// a rotating offset so that ties spread.
type fastest struct {
	counter atomic.Uint64
}

func newFastest([]int) Policy { return &fastest{} }

func (f *fastest) Pick(p Pool, cand []int) int {
	start := int(f.counter.Add(1) % uint64(len(cand)))
	best, bestLat := -1, int64(0)
	for k := range cand {
		i := cand[(start+k)%len(cand)]
		lat := p.LatencyNS(i)
		if lat == 0 {
			return i
		}
		if best < 0 || lat < bestLat {
			best, bestLat = i, lat
		}
	}
	return best
}
