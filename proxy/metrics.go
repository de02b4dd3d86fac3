package proxy

import (
	"bufio"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// Metrics are plain atomics on the hot path and rendered in the Prometheus
// text format on scrape; no registry, no per-request allocation.

var latencyBuckets = [...]float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}

// routeStats counts one route's requests by status and duration.
type routeStats struct {
	name, upstream string
	byStatus       [600]atomic.Uint64
	buckets        [len(latencyBuckets)]atomic.Uint64
	count          atomic.Uint64
	sumNS          atomic.Uint64
}

func newRouteStats(name, upstream string) *routeStats {
	return &routeStats{name: name, upstream: upstream}
}

func (s *routeStats) observe(status int, d time.Duration) {
	if status >= 0 && status < len(s.byStatus) {
		s.byStatus[status].Add(1)
	}
	sec := d.Seconds()
	for i, b := range latencyBuckets {
		if sec <= b {
			s.buckets[i].Add(1)
			break
		}
	}
	s.count.Add(1)
	s.sumNS.Add(uint64(d))
}

// Counters that are not per route.
type counters struct {
	local   *routeStats // answered by the agent itself (health, endpoints)
	noRoute *routeStats
}

func newCounters() *counters {
	return &counters{local: newRouteStats("local", ""), noRoute: newRouteStats("no_route", "")}
}

// WriteMetrics renders every metric for the table t in the Prometheus text
// exposition format.
func (h *Handler) WriteMetrics(w io.Writer) error {
	bw := bufio.NewWriter(w)
	t := h.table.Load()
	now := time.Now()
	stats := []*routeStats{h.ctr.local, h.ctr.noRoute}
	for _, r := range t.routes {
		stats = append(stats, r.stats)
	}
	fmt.Fprintln(bw, "# HELP edgectl_requests_total HTTP requests by route, upstream and status.")
	fmt.Fprintln(bw, "# TYPE edgectl_requests_total counter")
	for _, s := range stats {
		for code := range s.byStatus {
			if n := s.byStatus[code].Load(); n > 0 {
				fmt.Fprintf(bw, "edgectl_requests_total{route=%s,upstream=%s,status=\"%d\"} %d\n", q(s.name), q(s.upstream), code, n)
			}
		}
	}
	fmt.Fprintln(bw, "# HELP edgectl_request_duration_seconds Time from request head to response end.")
	fmt.Fprintln(bw, "# TYPE edgectl_request_duration_seconds histogram")
	for _, s := range stats {
		cum := uint64(0)
		for i, b := range latencyBuckets {
			cum += s.buckets[i].Load()
			fmt.Fprintf(bw, "edgectl_request_duration_seconds_bucket{route=%s,le=\"%s\"} %d\n", q(s.name), strconv.FormatFloat(b, 'g', -1, 64), cum)
		}
		fmt.Fprintf(bw, "edgectl_request_duration_seconds_bucket{route=%s,le=\"+Inf\"} %d\n", q(s.name), s.count.Load())
		fmt.Fprintf(bw, "edgectl_request_duration_seconds_sum{route=%s} %g\n", q(s.name), float64(s.sumNS.Load())/1e9)
		fmt.Fprintf(bw, "edgectl_request_duration_seconds_count{route=%s} %d\n", q(s.name), s.count.Load())
	}
	names := make([]string, 0, len(t.Upstreams))
	for n := range t.Upstreams {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintln(bw, "# HELP edgectl_upstream_up Whether a server may receive requests (1) or is marked down (0).")
	fmt.Fprintln(bw, "# TYPE edgectl_upstream_up gauge")
	for _, n := range names {
		for _, p := range t.Upstreams[n].peers {
			up := 0
			if p.live(now) {
				up = 1
			}
			fmt.Fprintf(bw, "edgectl_upstream_up{upstream=%s,server=%s,backup=\"%t\"} %d\n", q(n), q(p.Addr), p.Backup, up)
		}
	}
	fmt.Fprintln(bw, "# HELP edgectl_upstream_failovers_total Attempts moved to another server after a failure.")
	fmt.Fprintln(bw, "# TYPE edgectl_upstream_failovers_total counter")
	for _, n := range names {
		fmt.Fprintf(bw, "edgectl_upstream_failovers_total{upstream=%s} %d\n", q(n), t.Upstreams[n].failovers.Load())
	}
	fmt.Fprintln(bw, "# HELP edgectl_upstream_requests_total Attempts sent to a server.")
	fmt.Fprintln(bw, "# TYPE edgectl_upstream_requests_total counter")
	for _, n := range names {
		for _, p := range t.Upstreams[n].peers {
			fmt.Fprintf(bw, "edgectl_upstream_requests_total{upstream=%s,server=%s} %d\n", q(n), q(p.Addr), p.requests.Load())
		}
	}
	fmt.Fprintln(bw, "# HELP edgectl_upstream_failures_total Failed attempts (connect error, reset, timeout) per server.")
	fmt.Fprintln(bw, "# TYPE edgectl_upstream_failures_total counter")
	for _, n := range names {
		for _, p := range t.Upstreams[n].peers {
			fmt.Fprintf(bw, "edgectl_upstream_failures_total{upstream=%s,server=%s} %d\n", q(n), q(p.Addr), p.failures.Load())
		}
	}
	fmt.Fprintln(bw, "# HELP edgectl_upstream_stale_retries_total Requests replayed on a fresh connection because a reused keepalive connection had been closed by the server.")
	fmt.Fprintln(bw, "# TYPE edgectl_upstream_stale_retries_total counter")
	for _, n := range names {
		for _, p := range t.Upstreams[n].peers {
			fmt.Fprintf(bw, "edgectl_upstream_stale_retries_total{upstream=%s,server=%s} %d\n", q(n), q(p.Addr), p.stale.Load())
		}
	}
	fmt.Fprintln(bw, "# HELP edgectl_upstream_latency_seconds Moving average of time to response headers.")
	fmt.Fprintln(bw, "# TYPE edgectl_upstream_latency_seconds gauge")
	for _, n := range names {
		for _, p := range t.Upstreams[n].peers {
			fmt.Fprintf(bw, "edgectl_upstream_latency_seconds{upstream=%s,server=%s} %g\n", q(n), q(p.Addr), float64(p.ewmaNS.Load())/1e9)
		}
	}
	writeHoldMetrics(bw, t, names)
	fmt.Fprintln(bw, "# HELP edgectl_connections Open client connections.")
	fmt.Fprintln(bw, "# TYPE edgectl_connections gauge")
	fmt.Fprintf(bw, "edgectl_connections %d\n", h.conns.Load())
	if h.loops != nil {
		fmt.Fprintln(bw, "# HELP edgectl_loop_requests_total Requests answered on the event loops.")
		fmt.Fprintln(bw, "# TYPE edgectl_loop_requests_total counter")
		fmt.Fprintf(bw, "edgectl_loop_requests_total %d\n", h.lctr.requests.Load())
		fmt.Fprintln(bw, "# HELP edgectl_loop_handoffs_total Connections the event loops handed to the general engine, by reason.")
		fmt.Fprintln(bw, "# TYPE edgectl_loop_handoffs_total counter")
		for i, name := range handoffNames {
			fmt.Fprintf(bw, "edgectl_loop_handoffs_total{reason=%s} %d\n", q(name), h.lctr.handoffs[i].Load())
		}
	}
	return bw.Flush()
}

var labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)

func q(s string) string { return `"` + labelEscaper.Replace(s) + `"` }
