package sweep

import (
	"net/netip"
	"sort"
	"strings"
)

// DNSReport compares the domains' A and AAAA records with the fleet. The
// three lists are unions over all domains, as address strings.
type DNSReport struct {
	// Status is ok, fail (a list below is not empty or a lookup failed)
	// or skip (the fleet has no domains).
	Status string `json:"status"`
	// Resolver is the server asked ("system" for the system resolver).
	Resolver string `json:"resolver"`
	// Missing: fleet addresses that passed their probe but are not in DNS.
	Missing []string `json:"missing"`
	// Unexpected: addresses in DNS that are no fleet address (stale).
	Unexpected []string `json:"unexpected"`
	// UnhealthyInDNS: fleet addresses in DNS whose probe failed; users
	// resolving the domain are sent there. The top problem.
	UnhealthyInDNS []string `json:"unhealthy_in_dns"`
	// Domains holds the per-domain records and findings.
	Domains []DomainReport `json:"domains"`
	// Error is set when a lookup failed.
	Error string `json:"error"`
}

// DomainReport is one domain's records and what is wrong with them.
type DomainReport struct {
	Name           string   `json:"name"`
	A              []string `json:"a"`
	AAAA           []string `json:"aaaa"`
	Missing        []string `json:"missing"`
	Unexpected     []string `json:"unexpected"`
	UnhealthyInDNS []string `json:"unhealthy_in_dns"`
	Error          string   `json:"error"`
}

// fleetAddr is a fleet address and how its probe went.
type fleetAddr struct {
	healthy bool
	// deploying: a deploy changes its host, and may have taken it out of
	// DNS on purpose (rollout.dns_drain), so its absence is no problem.
	deploying bool
}

// compareDNS files each domain's records against the fleet's addresses.
func compareDNS(rep *DNSReport, fleetAddrs map[netip.Addr]fleetAddr) {
	missing, unexpected, unhealthy := set{}, set{}, set{}
	for i := range rep.Domains {
		d := &rep.Domains[i]
		inDNS := map[netip.Addr]bool{}
		for _, list := range [][]string{d.A, d.AAAA} {
			for _, s := range list {
				a := netip.MustParseAddr(s)
				inDNS[a] = true
				fa, ok := fleetAddrs[a]
				switch {
				case !ok:
					d.Unexpected = append(d.Unexpected, s)
				case !fa.healthy:
					d.UnhealthyInDNS = append(d.UnhealthyInDNS, s)
				}
			}
		}
		if d.Error == "" {
			for a, fa := range fleetAddrs {
				if fa.healthy && !fa.deploying && !inDNS[a] {
					d.Missing = append(d.Missing, a.String())
				}
			}
		}
		sortAddrs(d.Missing)
		missing.add(d.Missing)
		unexpected.add(d.Unexpected)
		unhealthy.add(d.UnhealthyInDNS)
		if d.Error != "" {
			rep.Error = strings.TrimPrefix(strings.TrimSpace(rep.Error+"; "+d.Error), "; ")
		}
		d.A, d.AAAA = nonNil(d.A), nonNil(d.AAAA)
		d.Missing, d.Unexpected, d.UnhealthyInDNS = nonNil(d.Missing), nonNil(d.Unexpected), nonNil(d.UnhealthyInDNS)
	}
	rep.Missing, rep.Unexpected, rep.UnhealthyInDNS = missing.list(), unexpected.list(), unhealthy.list()
	switch {
	case len(rep.Domains) == 0:
		rep.Status = StatusSkip
	case len(rep.Missing)+len(rep.Unexpected)+len(rep.UnhealthyInDNS) > 0 || rep.Error != "":
		rep.Status = StatusFail
	default:
		rep.Status = StatusOK
	}
}

// set keeps address strings once, in order of first sight.
type set struct {
	seen  map[string]bool
	order []string
}

func (s *set) add(list []string) {
	if s.seen == nil {
		s.seen = map[string]bool{}
	}
	for _, v := range list {
		if !s.seen[v] {
			s.seen[v] = true
			s.order = append(s.order, v)
		}
	}
}

func (s *set) list() []string {
	sortAddrs(s.order)
	return nonNil(s.order)
}

func sortAddrs(l []string) {
	sort.Slice(l, func(i, j int) bool {
		a, errA := netip.ParseAddr(l[i])
		b, errB := netip.ParseAddr(l[j])
		if errA != nil || errB != nil {
			return l[i] < l[j]
		}
		return a.Less(b)
	})
}

func nonNil(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}
