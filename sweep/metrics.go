package sweep

import (
	"bytes"
	"fmt"
	"io"
	"strings"
)

// WriteMetrics renders r as Prometheus text exposition format, for
// node_exporter's textfile collector (write it atomically: see
// remote.WriteFileAtomic) or a /metrics endpoint:
//
//	edgectl_sweep_up{host,family,address}               1 ok, 0 failed
//	edgectl_sweep_latency_seconds{host,family,address}  probe latency
//	edgectl_sweep_tls_days_left{host,address}           certificate days left
//	edgectl_sweep_dns_unexpected                        stale addresses in DNS
//	edgectl_sweep_dns_missing                           healthy addresses not in DNS
//	edgectl_sweep_dns_unhealthy                         failed addresses still in DNS
//	edgectl_sweep_healthy                               1 when the fleet is healthy
//	edgectl_sweep_last_run_timestamp_seconds
//	edgectl_sweep_duration_seconds
func WriteMetrics(w io.Writer, r *Report) error {
	var b bytes.Buffer
	head := func(name, typ, help string) {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
	}
	head("edgectl_sweep_up", "gauge", "Whether the address answered its health path (1) or not (0).")
	for _, h := range r.Hosts {
		for _, ft := range []struct {
			fam string
			t   Target
		}{{"ipv4", h.IPv4}, {"ipv6", h.IPv6}} {
			if ft.t.Status == StatusSkip || ft.t.Status == StatusDeploying {
				continue
			}
			up := 0
			if ft.t.Status == StatusOK {
				up = 1
			}
			fmt.Fprintf(&b, "edgectl_sweep_up{host=%s,family=%s,address=%s} %d\n", q(h.Name), q(ft.fam), q(ft.t.Address), up)
		}
	}
	head("edgectl_sweep_latency_seconds", "gauge", "Time to the health path's response headers.")
	for _, h := range r.Hosts {
		for _, ft := range []struct {
			fam string
			t   Target
		}{{"ipv4", h.IPv4}, {"ipv6", h.IPv6}} {
			if ft.t.Status == StatusOK {
				fmt.Fprintf(&b, "edgectl_sweep_latency_seconds{host=%s,family=%s,address=%s} %g\n", q(h.Name), q(ft.fam), q(ft.t.Address), ft.t.LatencyMS/1000)
			}
		}
	}
	head("edgectl_sweep_tls_days_left", "gauge", "Whole days until the served certificate expires.")
	for _, h := range r.Hosts {
		for _, t := range []Target{h.IPv4, h.IPv6} {
			if t.TLS != nil {
				fmt.Fprintf(&b, "edgectl_sweep_tls_days_left{host=%s,address=%s} %d\n", q(h.Name), q(t.Address), t.TLS.DaysLeft)
			}
		}
	}
	head("edgectl_sweep_dns_unexpected", "gauge", "Addresses in DNS that are no fleet address.")
	fmt.Fprintf(&b, "edgectl_sweep_dns_unexpected %d\n", len(r.DNS.Unexpected))
	head("edgectl_sweep_dns_missing", "gauge", "Healthy fleet addresses missing from DNS.")
	fmt.Fprintf(&b, "edgectl_sweep_dns_missing %d\n", len(r.DNS.Missing))
	head("edgectl_sweep_dns_unhealthy", "gauge", "Failed fleet addresses still in DNS.")
	fmt.Fprintf(&b, "edgectl_sweep_dns_unhealthy %d\n", len(r.DNS.UnhealthyInDNS))
	healthy := 0
	if r.Status == StatusHealthy {
		healthy = 1
	}
	head("edgectl_sweep_healthy", "gauge", "1 when every check of the last sweep passed.")
	fmt.Fprintf(&b, "edgectl_sweep_healthy %d\n", healthy)
	head("edgectl_sweep_last_run_timestamp_seconds", "gauge", "When the last sweep started, in Unix seconds.")
	fmt.Fprintf(&b, "edgectl_sweep_last_run_timestamp_seconds %d\n", r.Time.Unix())
	head("edgectl_sweep_duration_seconds", "gauge", "How long the last sweep took.")
	fmt.Fprintf(&b, "edgectl_sweep_duration_seconds %g\n", r.DurationMS/1000)
	_, err := w.Write(b.Bytes())
	return err
}

// q quotes a label value: backslash, double quote and newline escaped.
func q(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s) + `"`
}
