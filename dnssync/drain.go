package dnssync

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/edgectl/edgectl/dnsrecords"
)

// Drained is what Drain took out: what Restore puts back.
type Drained struct {
	Host    string   `json:"host"`
	Removed []Change `json:"removed"`
	// Refused are removals a safety rule held back: those addresses stay
	// in DNS while the host is deployed.
	Refused []Refusal `json:"refused"`
}

// Drain takes host's addresses out of every name's records, under the
// safety rules (min_healthy, max_remove) and touching nothing else. It
// applies all or nothing: on a provider error the records are as before.
// It is PlanDrain followed by Take.
func Drain(ctx context.Context, p dnsrecords.Provider, names []string, host string, addrs []netip.Addr, pol Policy) (*Drained, error) {
	d, err := PlanDrain(ctx, p, names, host, addrs, pol)
	if err != nil {
		return nil, err
	}
	return d, d.Take(ctx, p)
}

// PlanDrain is what Drain would do, changing nothing: Removed holds the
// removals planned (the records as they are now, with their TTL), Refused
// the removals a safety rule holds back. A caller that must survive being
// killed records Removed before it calls Take.
func PlanDrain(ctx context.Context, p dnsrecords.Provider, names []string, host string, addrs []netip.Addr, pol Policy) (*Drained, error) {
	var mine []Addr
	for _, a := range addrs {
		mine = append(mine, Addr{Host: host, Family: family(a), Addr: a.Unmap(), Want: false, Why: "deploying"})
	}
	pol.Prune = false
	plan, err := Build(ctx, p, names, mine, pol)
	if err != nil {
		return nil, err
	}
	removed := plan.Changes()
	if removed == nil {
		removed = []Change{}
	}
	refused := plan.Refused()
	if refused == nil {
		refused = []Refusal{}
	}
	return &Drained{Host: host, Removed: removed, Refused: refused}, nil
}

// Take carries out the removals PlanDrain planned, all or nothing (as
// Apply): afterwards Removed holds what was removed, none on an error.
func (d *Drained) Take(ctx context.Context, p dnsrecords.Provider) error {
	res, err := Apply(ctx, p, d.Removed)
	d.Removed = res.Done
	return err
}

// TTL is the longest TTL of the records taken out: how long a resolver
// may keep serving one of them.
func (d *Drained) TTL() time.Duration {
	longest := 0
	for _, c := range d.Removed {
		longest = max(longest, c.Record.TTL)
	}
	return time.Duration(longest) * time.Second
}

// Restore puts back what Drain removed (records already there are left
// alone). All or nothing, as Apply.
func Restore(ctx context.Context, p dnsrecords.Provider, d *Drained) error {
	var adds []Change
	present := map[string]map[netip.Addr]bool{}
	for _, c := range d.Removed {
		n := c.Record.Name
		if present[n] == nil {
			recs, err := p.List(ctx, n)
			if err != nil {
				return err
			}
			present[n] = map[netip.Addr]bool{}
			for _, r := range recs {
				present[n][r.Addr] = true
			}
		}
		if !present[n][c.Record.Addr] {
			present[n][c.Record.Addr] = true // once, even when listed twice
			r := c.Record
			r.ID = ""
			adds = append(adds, Change{Op: OpAdd, Record: r, Host: d.Host, Reason: "deployed"})
		}
	}
	_, err := Apply(ctx, p, adds)
	return err
}

// RecordTTL is the longest TTL among the names' A and AAAA records: how
// long a resolver may keep serving an address after it left DNS.
func RecordTTL(ctx context.Context, p dnsrecords.Provider, names []string) (time.Duration, error) {
	longest := 0
	for _, n := range names {
		recs, err := p.List(ctx, n)
		if err != nil {
			return 0, err
		}
		for _, r := range recs {
			longest = max(longest, r.TTL)
		}
	}
	return time.Duration(longest) * time.Second, nil
}

// WaitTTL waits ttl, but no longer than bound, calling tick (when not nil)
// about every second with the time left, so a caller can show it live. It
// returns how long it waited, or the context's error.
func WaitTTL(ctx context.Context, ttl, bound time.Duration, tick func(left time.Duration)) (time.Duration, error) {
	wait := ttl
	if bound > 0 && wait > bound {
		wait = bound
	}
	start := time.Now()
	end := start.Add(wait)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		left := time.Until(end)
		if left <= 0 {
			return time.Since(start), nil
		}
		if tick != nil {
			tick(left.Round(time.Second))
		}
		select {
		case <-ctx.Done():
			return time.Since(start), fmt.Errorf("waiting for the records' TTL: %w", ctx.Err())
		case <-t.C:
		case <-time.After(left):
		}
	}
}

func family(a netip.Addr) string {
	if a.Unmap().Is4() {
		return "ipv4"
	}
	return "ipv6"
}
