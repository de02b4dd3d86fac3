// Package dnsquery asks a DNS server for one name's addresses of one family:
// a given server (fleet.yaml's resolver, --resolver) with separate A and
// AAAA queries, or the system resolver. cert's pre-flight and sweep's DNS
// check both compare these answers with the fleet's addresses. [Ask] also
// returns the records' TTL, and [Nameservers] finds a zone's authoritative
// servers: what `edgectl dns check` compares side by side.
package dnsquery

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/miekg/dns"
)

// Lookup asks for the records of one family ("ip4" or "ip6") of name:
// from server (host:port) with separate A and AAAA queries, or from the
// system resolver when server is "". A name or family without records is
// an empty answer, not an error.
func Lookup(ctx context.Context, server, name, family string, timeout time.Duration) ([]netip.Addr, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if server == "" {
		addrs, err := net.DefaultResolver.LookupNetIP(ctx, family, name)
		var de *net.DNSError
		if errors.As(err, &de) && de.IsNotFound {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("look up %s (%s) with the system resolver: %w", name, family, err)
		}
		for i, a := range addrs {
			addrs[i] = a.Unmap()
		}
		return addrs, nil
	}
	qtype, rr := dns.TypeA, "A"
	if family == "ip6" {
		qtype, rr = dns.TypeAAAA, "AAAA"
	}
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	m.SetEdns0(4096, false) // a round-robin name may have many records
	c := &dns.Client{Timeout: timeout}
	in, _, err := c.ExchangeContext(ctx, m, server)
	if err == nil && in.Truncated {
		c.Net = "tcp"
		in, _, err = c.ExchangeContext(ctx, m, server)
	}
	if err != nil {
		return nil, fmt.Errorf("ask %s for %s %s: %w (is resolver/--resolver right?)", server, name, rr, err)
	}
	switch in.Rcode {
	case dns.RcodeSuccess, dns.RcodeNameError:
	default:
		return nil, fmt.Errorf("ask %s for %s %s: answer %s", server, name, rr, dns.RcodeToString[in.Rcode])
	}
	var out []netip.Addr
	for _, ans := range in.Answer {
		switch v := ans.(type) {
		case *dns.A:
			if a, ok := netip.AddrFromSlice(v.A.To4()); ok && family == "ip4" {
				out = append(out, a)
			}
		case *dns.AAAA:
			if a, ok := netip.AddrFromSlice(v.AAAA); ok && family == "ip6" {
				out = append(out, a.Unmap())
			}
		}
	}
	return out, nil
}
