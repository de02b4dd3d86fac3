// dns plan|sync output: JSON, or one block per name and a summary line.

package cli

import (
	"fmt"
	"io"
	"strings"

	"github.com/edgectl/edgectl/dnssync"
)

// dnsPlanOutput is `dns plan|sync --json`.
type dnsPlanOutput struct {
	Action    string             `json:"action"`
	Names     []dnssync.NamePlan `json:"names"`
	Addresses []dnssync.Addr     `json:"addresses"`
	Summary   string             `json:"summary"`
	// Applied is what sync did (null for plan).
	Applied *dnssync.Result `json:"applied"`
	Error   *dnsError       `json:"error,omitempty"`
}

// printDNSPlan writes the plan: per name, + add, - remove, ! held back by
// a rule, ~ not a fleet address, = a host left alone, then warnings and
// the summary (and, for sync, what was done).
func printDNSPlan(opts *dnsOptions, out dnsPlanOutput) error {
	if opts.JSON {
		return writeJSON(opts.IO.Out, out)
	}
	var b strings.Builder
	for _, n := range out.Names {
		fmt.Fprintf(&b, "%s\n", n.Name)
		var rows [][3]string
		for _, c := range n.Changes {
			sign := "+"
			if c.Op == dnssync.OpRemove {
				sign = "-"
			}
			rows = append(rows, [3]string{sign, c.Record.Type + " " + c.Record.Addr.String(), who(c.Host, c.Reason)})
		}
		for _, r := range n.Refused {
			rows = append(rows, [3]string{"!", r.Record.Type + " " + r.Record.Addr.String(), who(r.Host, r.Reason) + "; kept: " + r.Why})
		}
		for _, d := range n.Drift {
			what := "not a fleet address: kept (--prune removes it)"
			if opts.Prune {
				what = "not a fleet address"
			}
			rows = append(rows, [3]string{"~", d.Type + " " + d.Addr.String(), what})
		}
		for _, h := range n.Held {
			rows = append(rows, [3]string{"=", h.Addr.String(), h.Host + " left alone: " + h.Hold})
		}
		if len(rows) == 0 {
			b.WriteString("  in sync\n")
		}
		width := 0
		for _, r := range rows {
			width = max(width, len(r[1]))
		}
		for _, r := range rows {
			fmt.Fprintf(&b, "  %s %-*s  %s\n", r[0], width, r[1], r[2])
		}
		for _, w := range n.Warnings {
			fmt.Fprintf(&b, "  warning: %s\n", w)
		}
	}
	switch {
	case out.Action == "plan":
		fmt.Fprintf(&b, "plan: %s\n", out.Summary)
	case out.Error != nil:
		fmt.Fprintf(&b, "sync failed: %s\n", out.Error.Message)
	case out.Applied != nil && len(out.Applied.Done) == 0:
		fmt.Fprintf(&b, "sync: %s\n", out.Summary)
	default:
		fmt.Fprintf(&b, "synced: %s\n", out.Summary)
	}
	_, err := io.WriteString(opts.IO.Out, b.String())
	return err
}

func who(host, reason string) string {
	if host == "" {
		return reason
	}
	return host + ": " + reason
}
