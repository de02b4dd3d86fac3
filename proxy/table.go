package proxy

import (
	"bytes"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/edgectl/edgectl/agentconfig"
)

// Table is an immutable routing configuration: the upstream pools and the
// routes that select them. A Handler swaps whole Tables on reload.
type Table struct {
	Upstreams map[string]*Upstream
	routes    []*route
	limits    Limits
}

type route struct {
	name   string // for metrics: "host/path" or "*/path"
	exact  string // lower-case host, or ""
	suffix string // ".example.com" for "*.example.com", or ""
	prefix string
	up     *Upstream
	stats  *routeStats
}

// NewTable builds pools and routes from cfg. Pools and peers present in prev
// keep their health state, idle connections and metrics.
func NewTable(cfg *agentconfig.Config, prev *Table) (*Table, error) {
	t := &Table{Upstreams: map[string]*Upstream{}, limits: limitsFrom(cfg)}
	for name, uc := range cfg.Upstreams {
		var old *Upstream
		if prev != nil {
			old = prev.Upstreams[name]
		}
		u, err := NewUpstream(name, uc, old)
		if err != nil {
			return nil, err
		}
		if old != nil {
			u.failovers.Store(old.failovers.Load())
		}
		t.Upstreams[name] = u
	}
	oldStats := map[string]*routeStats{}
	if prev != nil {
		for _, r := range prev.routes {
			oldStats[r.name] = r.stats
		}
	}
	for _, rc := range cfg.Routes {
		u := t.Upstreams[rc.Upstream]
		if u == nil {
			return nil, fmt.Errorf("route %s%s: unknown upstream %q", rc.Host, rc.Path, rc.Upstream)
		}
		r := &route{prefix: rc.Path, up: u}
		host := strings.ToLower(rc.Host)
		switch {
		case strings.HasPrefix(host, "*."):
			r.suffix = host[1:]
		case host != "":
			r.exact = host
		}
		if host == "" {
			host = "*"
		}
		r.name = host + rc.Path
		if r.stats = oldStats[r.name]; r.stats == nil {
			r.stats = newRouteStats(r.name, u.Name)
		}
		t.routes = append(t.routes, r)
	}
	// Most specific first: exact host, then wildcard (longest suffix), then
	// any host; within each, the longest path prefix.
	sort.SliceStable(t.routes, func(i, j int) bool {
		a, b := t.routes[i], t.routes[j]
		if ra, rb := a.rank(), b.rank(); ra != rb {
			return ra < rb
		}
		if len(a.suffix) != len(b.suffix) {
			return len(a.suffix) > len(b.suffix)
		}
		return len(a.prefix) > len(b.prefix)
	})
	return t, nil
}

func (r *route) rank() int {
	switch {
	case r.exact != "":
		return 0
	case r.suffix != "":
		return 1
	}
	return 2
}

// match finds the route for a host (without port) and request path.
// Limits returns the client-side limits in force with this table.
func (t *Table) Limits() Limits { return t.limits }

func (t *Table) match(host, path []byte) *route {
	for _, r := range t.routes {
		switch {
		case r.exact != "":
			if !asciiEqualFold(host, r.exact) {
				continue
			}
		case r.suffix != "":
			if len(host) <= len(r.suffix) || !asciiEqualFold(host[len(host)-len(r.suffix):], r.suffix) {
				continue
			}
		}
		if bytes.HasPrefix(path, []byte(r.prefix)) {
			return r
		}
	}
	return nil
}

// CheckNow runs one round of active health checks on every pool, in
// parallel, and waits for it: the agent calls it before accepting traffic
// so the first request already knows which peers are down.
func (t *Table) CheckNow() {
	done := make(chan struct{}, len(t.Upstreams))
	for _, u := range t.Upstreams {
		go func() { u.checkAll(); done <- struct{}{} }()
	}
	for range t.Upstreams {
		<-done
	}
}

// CheckNew runs one round of active checks on the peers that were not
// carried over from the previous table (after a reload), so a new server
// that is down is never tried first either.
func (t *Table) CheckNew() {
	done := make(chan struct{}, len(t.Upstreams))
	for _, u := range t.Upstreams {
		go func() { u.checkPeers(func(p *Peer) bool { return !p.adopted }); done <- struct{}{} }()
	}
	for range t.Upstreams {
		<-done
	}
}

// Start launches the health-check loops and the idle-connection reaper.
func (t *Table) Start() {
	for _, u := range t.Upstreams {
		u.start()
	}
}

// Close stops every pool's background work and closes idle connections.
func (t *Table) Close() {
	for _, u := range t.Upstreams {
		u.Close()
	}
}

// Status snapshots every pool, sorted by name.
func (t *Table) Status(now time.Time) []UpstreamStatus {
	names := make([]string, 0, len(t.Upstreams))
	for n := range t.Upstreams {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([]UpstreamStatus, 0, len(names))
	for _, n := range names {
		out = append(out, t.Upstreams[n].Status(now))
	}
	return out
}

// hostOnly strips the port from a Host header value.
func hostOnly(h []byte) []byte {
	if len(h) > 0 && h[0] == '[' {
		if i := bytes.IndexByte(h, ']'); i > 0 {
			return h[1:i]
		}
		return h
	}
	if i := bytes.LastIndexByte(h, ':'); i >= 0 {
		return h[:i]
	}
	return h
}
