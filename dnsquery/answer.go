package dnsquery

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"sort"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// Answer is one server's view of a name's records of one type.
type Answer struct {
	Addrs []netip.Addr
	// TTL is the lowest TTL of the answer's records, in seconds (0 when
	// there are none).
	TTL uint32
	// Authoritative is set when the server answered for the zone itself.
	Authoritative bool
}

// Ask sends server (host:port) one question for name's A (family "ip4")
// or AAAA ("ip6") records and returns the addresses with their TTL. A
// name without records is an empty answer, not an error.
func Ask(ctx context.Context, server, name, family string, timeout time.Duration) (Answer, error) {
	qtype, rr := dns.TypeA, "A"
	if family == "ip6" {
		qtype, rr = dns.TypeAAAA, "AAAA"
	}
	in, err := exchange(ctx, server, name, qtype, timeout)
	if err != nil {
		return Answer{}, fmt.Errorf("ask %s for %s %s: %w", server, name, rr, err)
	}
	var a Answer
	a.Authoritative = in.Authoritative
	for _, ans := range in.Answer {
		var ip netip.Addr
		var ok bool
		switch v := ans.(type) {
		case *dns.A:
			ip, ok = netip.AddrFromSlice(v.A.To4())
		case *dns.AAAA:
			ip, ok = netip.AddrFromSlice(v.AAAA)
		}
		if !ok || dns.TypeToString[ans.Header().Rrtype] != rr {
			continue
		}
		a.Addrs = append(a.Addrs, ip.Unmap())
		if a.TTL == 0 || ans.Header().Ttl < a.TTL {
			a.TTL = ans.Header().Ttl
		}
	}
	sort.Slice(a.Addrs, func(i, j int) bool { return a.Addrs[i].Less(a.Addrs[j]) })
	return a, nil
}

func exchange(ctx context.Context, server, name string, qtype uint16, timeout time.Duration) (*dns.Msg, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	m.RecursionDesired = true
	m.SetEdns0(4096, false)
	c := &dns.Client{Timeout: timeout}
	in, _, err := c.ExchangeContext(ctx, m, server)
	if err == nil && in.Truncated {
		c.Net = "tcp"
		in, _, err = c.ExchangeContext(ctx, m, server)
	}
	if err != nil {
		return nil, err
	}
	switch in.Rcode {
	case dns.RcodeSuccess, dns.RcodeNameError:
		return in, nil
	}
	return nil, fmt.Errorf("answer %s", dns.RcodeToString[in.Rcode])
}

// Nameservers finds zone's authoritative servers: its NS records and
// their addresses (both families), each as host:53, sorted. resolver is
// the server asked (host:port), or "" for the system resolver.
func Nameservers(ctx context.Context, resolver, zone string, timeout time.Duration) ([]string, error) {
	var hosts []string
	if resolver == "" {
		ctx2, cancel := context.WithTimeout(ctx, timeout)
		nss, err := net.DefaultResolver.LookupNS(ctx2, zone)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("look up the NS records of %s with the system resolver: %w", zone, err)
		}
		for _, ns := range nss {
			hosts = append(hosts, strings.TrimSuffix(ns.Host, "."))
		}
	} else {
		in, err := exchange(ctx, resolver, zone, dns.TypeNS, timeout)
		if err != nil {
			return nil, fmt.Errorf("ask %s for the NS records of %s: %w", resolver, zone, err)
		}
		for _, rr := range in.Answer {
			if ns, ok := rr.(*dns.NS); ok {
				hosts = append(hosts, strings.TrimSuffix(ns.Ns, "."))
			}
		}
	}
	if len(hosts) == 0 {
		return nil, fmt.Errorf("%s has no NS records: give the servers to ask with --resolver", zone)
	}
	seen := map[string]bool{}
	var out []string
	for _, h := range hosts {
		for _, fam := range []string{"ip4", "ip6"} {
			addrs, err := Lookup(ctx, resolver, h, fam, timeout)
			if err != nil {
				continue
			}
			for _, a := range addrs {
				s := net.JoinHostPort(a.String(), "53")
				if !seen[s] {
					seen[s] = true
					out = append(out, s)
				}
			}
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("the name servers of %s (%s) have no addresses: give the servers to ask with --resolver", zone, strings.Join(hosts, ", "))
	}
	sort.Strings(out)
	return out, nil
}
