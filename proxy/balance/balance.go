// Package balance holds the load-balancing policies an upstream can name in
// agent.yaml (policy:). Each policy is one file and one entry in the table
// below: the configuration validates names against it and the data plane
// builds its policies from it, so the two can never disagree.
package balance

import "strings"

// Pool is what a policy sees of an upstream's servers, by index in
// configuration order.
type Pool interface {
	// Weight is the configured weight of server i (at least 1).
	Weight(i int) int
	// Inflight is the number of requests server i is serving now.
	Inflight(i int) int64
	// LatencyNS is server i's latency average in nanoseconds, 0 while
	// it has not been measured.
	LatencyNS(i int) int64
}

// Policy picks one server among candidates: indexes into the Pool of live
// servers not tried yet by this request, at least two of them. It is called
// concurrently and must not allocate.
type Policy interface {
	Pick(p Pool, cand []int) int
}

// Info describes one policy.
type Info struct {
	// Name is what agent.yaml says in policy:.
	Name string
	// Doc is a one-line description for the configuration reference.
	Doc string
	// New builds the policy for a pool whose servers have these weights.
	New func(weights []int) Policy
}

// table is every policy there is. Adding one: a file with its type and
// constructor, and a line here.
var table = []Info{
	{Name: "round_robin", New: newRoundRobin,
		Doc: "smooth weighted round robin, as nginx does it (the default)"},
	{Name: "first", New: newFirst,
		Doc: "the first live server in configuration order"},
	{Name: "least_conn", New: newLeastConn,
		Doc: "fewest requests in flight per unit of weight"},
	{Name: "fastest", New: newFastest,
		Doc: "lowest latency average; servers not measured yet are tried first"},
}

// Default is the policy used when none is configured.
const Default = "round_robin"

// Lookup returns the policy called name.
func Lookup(name string) (Info, bool) {
	for _, in := range table {
		if in.Name == name {
			return in, true
		}
	}
	return Info{}, false
}

// Names lists the policy names in table order, the default first.
func Names() []string {
	out := make([]string, len(table))
	for i, in := range table {
		out[i] = in.Name
	}
	return out
}

// Phrase lists the names for a message: "a, b, c or d".
func Phrase() string {
	n := Names()
	if len(n) == 1 {
		return n[0]
	}
	return strings.Join(n[:len(n)-1], ", ") + " or " + n[len(n)-1]
}
