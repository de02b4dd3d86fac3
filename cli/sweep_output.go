// sweep's output: JSON, or the table and the summary line.

package cli

import (
	"fmt"
	"io"
	"strings"

	"github.com/edgectl/edgectl/sweep"
)

// printSweep writes the report: JSON, or the table with problems and the
// summary line (nothing with --quiet while healthy).
func printSweep(opts *sweepOptions, rep *sweep.Report) error {
	if opts.JSON {
		return writeJSON(opts.IO.Out, rep)
	}
	if opts.Quiet && rep.Status == sweep.StatusHealthy {
		return nil
	}
	headers := []string{"host", "ipv4", "ipv6", "tls", "latency", "upstreams"}
	var rows [][]string
	for _, h := range rep.Hosts {
		rows = append(rows, []string{h.Name, targetCell(h.IPv4), targetCell(h.IPv6), tlsCell(h.TLS),
			latencyCell(h.IPv4) + " / " + latencyCell(h.IPv6), upstreamsCell(h)})
	}
	if err := writeTable(opts.IO.Out, opts.Color, headers, rows); err != nil {
		return err
	}
	var b strings.Builder
	for _, p := range rep.Problems {
		b.WriteString("  - ")
		if p.Host != "" && p.Check != "dns" {
			b.WriteString(p.Host + " ")
		}
		if p.Check == "ipv4" || p.Check == "ipv6" || p.Check == "tls" {
			b.WriteString(p.Check + " " + p.Address + ": ")
		} else if p.Check == "dns" || p.Check == "upstreams" {
			b.WriteString(p.Check + ": ")
		}
		b.WriteString(p.Summary + "\n")
	}
	writeDNSAction(&b, rep.DNSAction)
	fmt.Fprintf(&b, "%s\n", rep.Summary())
	_, err := io.WriteString(opts.IO.Out, b.String())
	return err
}

// writeDNSAction says what --dns did: each change, each removal held back,
// or the error.
func writeDNSAction(b *strings.Builder, a *sweep.DNSAction) {
	if a == nil {
		return
	}
	if a.Result != nil {
		for _, c := range a.Result.Done {
			fmt.Fprintf(b, "  dns: %s\n", c)
		}
	}
	if a.Plan != nil {
		for _, r := range a.Plan.Refused() {
			fmt.Fprintf(b, "  dns: kept %s (%s): %s\n", r.Record, r.Host, r.Why)
		}
		seen := map[string]bool{}
		for _, n := range a.Plan.Names {
			for _, h := range n.Held {
				if sweep.IsDeployHold(h.Hold) && !seen[h.Host] {
					seen[h.Host] = true
					fmt.Fprintf(b, "  dns: left %s alone: %s\n", h.Host, h.Hold)
				}
			}
		}
		for _, n := range a.Plan.Names {
			for _, w := range n.Warnings {
				fmt.Fprintf(b, "  dns: warning: %s\n", w)
			}
		}
	}
	if a.Error != "" {
		fmt.Fprintf(b, "  dns: %s\n", a.Error)
	}
}

func targetCell(t sweep.Target) string {
	if t.Status == sweep.StatusFail && t.Kind != "" {
		return "fail (" + t.Kind + ")"
	}
	return t.Status
}

func tlsCell(t *sweep.TLSReport) string {
	switch {
	case t == nil:
		return "-"
	case t.DaysLeft < 0:
		return t.Status + " (expired)"
	case !t.HostnameOK:
		return t.Status + " (name)"
	case t.Status == sweep.StatusFail && t.DaysLeft >= sweep.TLSFailDays:
		return t.Status + " (untrusted)"
	}
	return fmt.Sprintf("%s %dd", t.Status, t.DaysLeft)
}

func latencyCell(t sweep.Target) string {
	if t.Status != sweep.StatusOK {
		return "-"
	}
	return fmt.Sprintf("%.1fms", t.LatencyMS)
}

func upstreamsCell(h sweep.HostReport) string {
	if len(h.Upstreams) == 0 {
		return "-"
	}
	var parts []string
	for _, u := range h.Upstreams {
		parts = append(parts, fmt.Sprintf("%s %d/%d", u.Name, u.Live, u.Total))
	}
	return strings.Join(parts, ", ")
}
