package dnssync

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"

	"github.com/edgectl/edgectl/dnsrecords"
	"github.com/edgectl/edgectl/fleet"
)

// Addr is one fleet address and the verdict on it.
type Addr struct {
	Host string `json:"host"`
	// Family is ipv4 or ipv6.
	Family string     `json:"family"`
	Addr   netip.Addr `json:"address"`
	// Want is true when the address should be in DNS (its own family's
	// probe passed), false when it should not.
	Want bool `json:"want"`
	// Why says why an address is not wanted (its probe's error).
	Why string `json:"why,omitempty"`
	// Hold, when set, leaves the address as it is in DNS whatever Want
	// says, and says why (e.g. "deploying").
	Hold string `json:"hold,omitempty"`
}

// Policy is the safety limits and the TTL of new records.
type Policy struct {
	// MinHealthy: never remove the last this many records of a family.
	MinHealthy int
	// MaxRemove returns how many of n records of a family one run may
	// remove.
	MaxRemove func(n int) int
	// TTL of an added record whose record set is empty, in seconds.
	TTL int
	// Prune also removes records that are no fleet address.
	Prune bool
}

// PolicyOf is the fleet's dns: policy.
func PolicyOf(d *fleet.DNS, prune bool) Policy {
	return Policy{MinHealthy: d.MinHealthy, MaxRemove: d.MaxRemoveOf, TTL: d.TTL, Prune: prune}
}

// Operations of a change.
const (
	OpAdd    = "add"
	OpRemove = "remove"
)

// Rules that hold a removal back.
const (
	RuleMinHealthy = "min_healthy"
	RuleMaxRemove  = "max_remove"
)

// Change is one record to add or remove.
type Change struct {
	Op     string            `json:"op"`
	Record dnsrecords.Record `json:"record"`
	// Host owns the address ("" for a record that is no fleet address).
	Host string `json:"host,omitempty"`
	// Reason says why: the probe's error, "healthy", "not a fleet address".
	Reason string `json:"reason"`
}

// String is "remove api.example.com A 192.0.2.1 (edge-1: connection refused)".
func (c Change) String() string {
	who := c.Reason
	if c.Host != "" {
		who = c.Host + ": " + c.Reason
	}
	return fmt.Sprintf("%s %s (%s)", c.Op, c.Record, who)
}

// Refusal is a removal a safety rule held back.
type Refusal struct {
	Change
	// Rule is min_healthy or max_remove.
	Rule string `json:"rule"`
	// Why words the rule for this record.
	Why string `json:"why"`
}

// NamePlan is what to do with one name's records.
type NamePlan struct {
	Name string `json:"name"`
	// Current are the records before the plan.
	Current []dnsrecords.Record `json:"current"`
	Changes []Change            `json:"changes"`
	Refused []Refusal           `json:"refused"`
	// Drift are records that are no fleet address (removed only with
	// Prune).
	Drift []dnsrecords.Record `json:"drift"`
	// Held are fleet addresses left alone because they are held.
	Held []Addr `json:"held"`
	// Warnings are about the records themselves (a TTL above 300 s).
	Warnings []string `json:"warnings"`
}

// Compute plans one name: current are its A and AAAA records, addrs every
// fleet address with its verdict. It is pure: the same facts give the same
// plan.
func Compute(name string, current []dnsrecords.Record, addrs []Addr, p Policy) NamePlan {
	np := NamePlan{Name: name, Current: nonNil(current), Changes: []Change{}, Refused: []Refusal{},
		Drift: []dnsrecords.Record{}, Held: []Addr{}, Warnings: []string{}}
	fleetAddrs := map[netip.Addr]Addr{}
	for _, a := range addrs {
		fleetAddrs[a.Addr.Unmap()] = a
	}
	for _, typ := range []string{dnsrecords.TypeA, dnsrecords.TypeAAAA} {
		var recs []dnsrecords.Record
		inDNS := map[netip.Addr]bool{}
		ttl := 0
		for _, r := range current {
			if r.Type == typ {
				recs = append(recs, r)
				inDNS[r.Addr] = true
				if ttl == 0 || r.TTL < ttl {
					ttl = r.TTL
				}
			}
		}
		if ttl == 0 {
			ttl = p.TTL
		}
		if ttl > fleet.DNSTTLWarn {
			np.Warnings = append(np.Warnings, fmt.Sprintf("%s %s records have TTL %d s: resolvers keep a removed address up to %s; lower it to %d s or less",
				name, typ, ttl, human(ttl), fleet.DNSTTLWarn))
		}
		var adds []Change
		for _, a := range addrs {
			if dnsrecords.TypeOf(a.Addr) != typ || inDNS[a.Addr.Unmap()] {
				continue
			}
			switch {
			case a.Hold != "":
				np.Held = append(np.Held, a)
			case a.Want:
				adds = append(adds, Change{Op: OpAdd, Host: a.Host, Reason: "healthy",
					Record: dnsrecords.Record{Name: name, Type: typ, Addr: a.Addr.Unmap(), TTL: ttl}})
			}
		}
		var unhealthy, drift []Change
		for _, r := range recs {
			a, ok := fleetAddrs[r.Addr]
			switch {
			case !ok:
				np.Drift = append(np.Drift, r)
				if p.Prune {
					drift = append(drift, Change{Op: OpRemove, Record: r, Reason: "not a fleet address (--prune)"})
				}
			case a.Hold != "":
				np.Held = append(np.Held, a)
			case !a.Want:
				why := a.Why
				if why == "" {
					why = "unhealthy"
				}
				unhealthy = append(unhealthy, Change{Op: OpRemove, Record: r, Host: a.Host, Reason: why})
			}
		}
		np.Changes = append(np.Changes, adds...)
		candidates := append(unhealthy, drift...)
		byMin := max(0, len(recs)+len(adds)-p.MinHealthy)
		byMax := len(candidates)
		if p.MaxRemove != nil {
			byMax = p.MaxRemove(len(recs))
		}
		for i, c := range candidates {
			switch {
			case i < min(byMin, byMax):
				np.Changes = append(np.Changes, c)
			case i >= byMin:
				np.Refused = append(np.Refused, Refusal{Change: c, Rule: RuleMinHealthy,
					Why: fmt.Sprintf("min_healthy %d: it is among the last %d %s records of %s", p.MinHealthy, p.MinHealthy, typ, name)})
			default:
				np.Refused = append(np.Refused, Refusal{Change: c, Rule: RuleMaxRemove,
					Why: fmt.Sprintf("max_remove: at most %d of the %d %s records of %s leave in one run; the next run continues", byMax, len(recs), typ, name)})
			}
		}
	}
	sort.SliceStable(np.Held, func(i, j int) bool { return np.Held[i].Addr.Less(np.Held[j].Addr) })
	return np
}

// Plan is what to do with every name.
type Plan struct {
	Names []NamePlan `json:"names"`
}

// Changes lists every change of the plan, name by name.
func (p *Plan) Changes() []Change {
	var out []Change
	for _, n := range p.Names {
		out = append(out, n.Changes...)
	}
	return out
}

// Refused lists every removal held back.
func (p *Plan) Refused() []Refusal {
	var out []Refusal
	for _, n := range p.Names {
		out = append(out, n.Refused...)
	}
	return out
}

// Summary is one line: "2 to add, 1 to remove, 1 held back by a safety
// rule, 1 record not in the fleet".
func (p *Plan) Summary() string {
	add, rm := 0, 0
	for _, c := range p.Changes() {
		if c.Op == OpAdd {
			add++
		} else {
			rm++
		}
	}
	drift := 0
	for _, n := range p.Names {
		drift += len(n.Drift)
	}
	parts := []string{}
	if add+rm == 0 {
		parts = append(parts, "no change")
	} else {
		parts = append(parts, fmt.Sprintf("%d to add, %d to remove", add, rm))
	}
	if n := len(p.Refused()); n > 0 {
		parts = append(parts, plural(n, "removal", "removals")+" held back by a safety rule")
	}
	if drift > 0 {
		parts = append(parts, plural(drift, "record", "records")+" not in the fleet")
	}
	return strings.Join(parts, ", ")
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

func human(sec int) string {
	if sec%60 == 0 && sec >= 120 {
		return fmt.Sprintf("%d minutes", sec/60)
	}
	return fmt.Sprintf("%d s", sec)
}

func nonNil(r []dnsrecords.Record) []dnsrecords.Record {
	if r == nil {
		return []dnsrecords.Record{}
	}
	return r
}
