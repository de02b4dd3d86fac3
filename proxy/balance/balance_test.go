package balance

import (
	"slices"
	"testing"
)

// pool is a fixed Pool for table tests.
type pool struct {
	weights  []int
	inflight []int64
	latency  []int64
}

func (p *pool) Weight(i int) int      { return p.weights[i] }
func (p *pool) Inflight(i int) int64  { return p.inflight[i] }
func (p *pool) LatencyNS(i int) int64 { return p.latency[i] }

func TestTable(t *testing.T) {
	if got, want := Names(), []string{"round_robin", "first", "least_conn", "fastest"}; !slices.Equal(got, want) {
		t.Errorf("Names() = %v, want %v", got, want)
	}
	if got := Phrase(); got != "round_robin, first, least_conn or fastest" {
		t.Errorf("Phrase() = %q", got)
	}
	if _, ok := Lookup(Default); !ok {
		t.Errorf("the default policy %q is not in the table", Default)
	}
	if _, ok := Lookup("ip_hash"); ok {
		t.Error("Lookup found a policy that does not exist")
	}
	for _, in := range table {
		if in.Doc == "" || in.New == nil {
			t.Errorf("policy %q needs a Doc and a New", in.Name)
		}
	}
}

// TestPick runs each policy over a fixed pool and counts what it picked.
func TestPick(t *testing.T) {
	tests := []struct {
		name   string
		policy string
		pool   pool
		cand   []int
		rounds int
		want   []int // picks per server index
	}{
		{"round robin equal weights rotates", "round_robin",
			pool{weights: []int{1, 1, 1}}, []int{0, 1, 2}, 9, []int{3, 3, 3}},
		{"round robin follows weights", "round_robin",
			pool{weights: []int{3, 1}}, []int{0, 1}, 8, []int{6, 2}},
		{"round robin only among candidates", "round_robin",
			pool{weights: []int{5, 1, 1}}, []int{1, 2}, 4, []int{0, 2, 2}},
		{"first takes the first candidate", "first",
			pool{weights: []int{1, 1}}, []int{1, 0}, 5, []int{0, 5}},
		{"least_conn takes the idle server", "least_conn",
			pool{weights: []int{1, 1}, inflight: []int64{4, 0}}, []int{0, 1}, 5, []int{0, 5}},
		{"least_conn divides by weight", "least_conn",
			pool{weights: []int{4, 1}, inflight: []int64{3, 1}}, []int{0, 1}, 5, []int{5, 0}},
		{"fastest takes the lowest latency", "fastest",
			pool{weights: []int{1, 1}, latency: []int64{900, 100}}, []int{0, 1}, 5, []int{0, 5}},
		{"fastest tries unmeasured servers", "fastest",
			pool{weights: []int{1, 1}, latency: []int64{100, 0}}, []int{0, 1}, 5, []int{0, 5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in, ok := Lookup(tt.policy)
			if !ok {
				t.Fatalf("no policy %q", tt.policy)
			}
			pol := in.New(tt.pool.weights)
			got := make([]int, len(tt.pool.weights))
			for range tt.rounds {
				got[pol.Pick(&tt.pool, tt.cand)]++
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("picks per server = %v, want %v", got, tt.want)
			}
		})
	}
}
