package sweep

import (
	"net/netip"
	"strings"
	"time"

	"github.com/edgectl/edgectl/dnssync"
)

// A deploy cannot mark its host at every instant: between the old agent
// process and the new one nobody answers, and the new one answers before
// the deploy marks it again. With rollout.dns_drain the host's records are
// out of DNS all that time, and a sweep --dns landing there must neither
// count the restart as an outage nor put the records back. So sweep --dns
// remembers every host it saw deploying (State.Deploys) for as long as its
// records are out of DNS, up to the deploy's maximum time.

// DeployMemory is a deploy sweep --dns saw on a host.
type DeployMemory struct {
	// Start is when the deploy started (as its mark said) and MaxMS its
	// maximum time.
	Start time.Time `json:"start"`
	MaxMS int64     `json:"max_ms"`
}

func (m DeployMemory) until() time.Time {
	return m.Start.Add(time.Duration(m.MaxMS) * time.Millisecond)
}

// noteDeploys remembers every host this sweep sees deploying and forgets
// what ran out or left the fleet.
func (s *State) noteDeploys(r *Report, now time.Time) {
	if s.Deploys == nil {
		s.Deploys = map[string]DeployMemory{}
	}
	hosts := map[string]bool{}
	for _, h := range r.Hosts {
		hosts[h.Name] = true
		if DeployHold(h) != "" && h.Deploy.Source != sourceState {
			s.Deploys[h.Name] = DeployMemory{Start: now.Add(-time.Duration(h.Deploy.AgeMS) * time.Millisecond).UTC(), MaxMS: h.Deploy.MaxMS}
		}
	}
	for host, m := range s.Deploys {
		if !hosts[host] || !now.Before(m.until()) {
			delete(s.Deploys, host)
		}
	}
}

// sourceState is DeployInfo.Source for a deploy known from the state.
const sourceState = "state"

// shieldDeploys marks the hosts the state remembers deploying (their
// records still out of DNS) as deploying in r, when no mark says so now:
// their failures are the deploy's, not counted, and a healthy one missing
// from DNS is no problem. Update calls it first.
func (s *State) shieldDeploys(r *Report, now time.Time) {
	changed := false
	for i := range r.Hosts {
		h := &r.Hosts[i]
		m, ok := s.Deploys[h.Name]
		if !ok || h.Deploy != nil || !now.Before(m.until()) {
			continue
		}
		h.Deploy = &DeployInfo{Source: sourceState, AgeMS: now.Sub(m.Start).Milliseconds(), MaxMS: m.MaxMS}
		mine := map[string]bool{}
		for _, t := range []Target{h.IPv4, h.IPv6} {
			if ap, err := netip.ParseAddrPort(t.Address); err == nil {
				mine[ap.Addr().String()] = true
			}
		}
		drop := func(l []string) []string {
			out := l[:0]
			for _, a := range l {
				if !mine[a] {
					out = append(out, a)
				}
			}
			return out
		}
		r.DNS.Missing = drop(r.DNS.Missing)
		for j := range r.DNS.Domains {
			r.DNS.Domains[j].Missing = drop(r.DNS.Domains[j].Missing)
		}
		changed = true
	}
	if changed {
		if r.DNS.Status == StatusFail && len(r.DNS.Missing)+len(r.DNS.Unexpected)+len(r.DNS.UnhealthyInDNS) == 0 && r.DNS.Error == "" {
			r.DNS.Status = StatusOK
		}
		r.finish()
	}
}

// settleDeploys forgets the hosts not deploying now whose every address
// is in DNS under every name: their deploy is over as far as DNS goes.
func (s *State) settleDeploys(r *Report, plan *dnssync.Plan) {
	for _, h := range r.Hosts {
		if _, ok := s.Deploys[h.Name]; !ok || (h.Deploy != nil && h.Deploy.Source != sourceState) {
			continue
		}
		back := true
		for _, np := range plan.Names {
			in := map[netip.Addr]bool{}
			for _, rec := range np.Current {
				in[rec.Addr] = true
			}
			for _, t := range []Target{h.IPv4, h.IPv6} {
				if ap, err := netip.ParseAddrPort(t.Address); err == nil && !in[ap.Addr().Unmap()] {
					back = false
				}
			}
		}
		if back {
			delete(s.Deploys, h.Name)
		}
	}
}

// IsDeployHold reports whether hold (dnssync.Addr.Hold) is a deploy's
// (DeployHold).
func IsDeployHold(hold string) bool { return strings.HasPrefix(hold, "deploying") }
