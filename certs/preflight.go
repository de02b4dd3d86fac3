package certs

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/edgectl/edgectl/dnsquery"
)

// PreflightAddr is one address a name resolves to.
type PreflightAddr struct {
	Addr   string `json:"addr"`
	Family string `json:"family"`
	// Host is the fleet host with this address ("" when none has it).
	Host string `json:"host,omitempty"`
	// URL is what was fetched.
	URL string `json:"url,omitempty"`
	// Problem is why this address fails ("" when it passed).
	Problem string `json:"problem,omitempty"`
}

// PreflightName is the check of one name.
type PreflightName struct {
	Name string `json:"name"`
	// Problem is a failure of the name as a whole (DNS error, no record).
	Problem string          `json:"problem,omitempty"`
	Addrs   []PreflightAddr `json:"addrs"`
}

// resolverName is the resolver as reports show it: its address, or
// "system" for the system resolver.
func resolverName(r string) string {
	if r == "" {
		return "system"
	}
	return r
}

// Preflight is the report of the checks made before any order.
type Preflight struct {
	// Resolver is the DNS server asked ("system" for the system's).
	Resolver string          `json:"resolver"`
	Names    []PreflightName `json:"names"`
	// Hosts lists hosts that could not be reached or written to.
	Hosts []HostError `json:"host_errors,omitempty"`
}

// OK reports whether every check passed.
func (p *Preflight) OK() bool {
	if len(p.Hosts) > 0 {
		return false
	}
	for _, n := range p.Names {
		if n.Problem != "" {
			return false
		}
		for _, a := range n.Addrs {
			if a.Problem != "" {
				return false
			}
		}
	}
	return true
}

// Problems lists every failed check as one line each: name, host, address
// and what is wrong.
func (p *Preflight) Problems() []string {
	var out []string
	for _, h := range p.Hosts {
		out = append(out, fmt.Sprintf("host %s: %s", h.Host, h.Err))
	}
	for _, n := range p.Names {
		if n.Problem != "" {
			out = append(out, fmt.Sprintf("%s: %s", n.Name, n.Problem))
		}
		for _, a := range n.Addrs {
			if a.Problem == "" {
				continue
			}
			host := a.Host
			if host == "" {
				host = "(no fleet host)"
			}
			out = append(out, fmt.Sprintf("%s → %s %s (%s): %s", n.Name, host, a.Addr, a.Family, a.Problem))
		}
	}
	return out
}

// targets returns, per name, the addresses that passed.
func (p *Preflight) targets() map[string][]target {
	out := map[string][]target{}
	for _, n := range p.Names {
		for _, a := range n.Addrs {
			if ip, err := netip.ParseAddr(a.Addr); err == nil && a.Host != "" {
				out[n.Name] = append(out[n.Name], target{Host: a.Host, Addr: ip})
			}
		}
	}
	return out
}

// preflight checks, for HTTP-01, that every A and AAAA record of every name
// is a fleet host and that each such address serves a probe token written
// into acme_challenge_dir on every host, on port c.HTTPPort. conns are the
// connected hosts.
func preflight(ctx context.Context, c *Config, conns []*conn) *Preflight {
	rep := &Preflight{Resolver: resolverName(c.Resolver), Names: []PreflightName{}}
	token, content := randomToken(), []byte(randomToken())
	dir := c.Fleet.Agent.ACMEChallengeDir
	if err := placeToken(ctx, conns, dir, token, content); err != nil {
		rep.Hosts = append(rep.Hosts, HostError{Host: "*", Err: fmt.Sprintf("write a probe token into %s: %v", dir, err)})
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		_ = removeToken(cctx, conns, dir, token)
	}()
	for _, name := range c.Domains {
		pn := PreflightName{Name: name, Addrs: []PreflightAddr{}}
		addrs, err := resolve(ctx, c.Resolver, name)
		switch {
		case err != nil:
			pn.Problem = err.Error()
		case len(addrs) == 0:
			pn.Problem = fmt.Sprintf("no A or AAAA record (resolver %s); point the name at the fleet's addresses", rep.Resolver)
		}
		var targets []target
		for _, a := range addrs {
			pa := PreflightAddr{Addr: a.String(), Family: family(a)}
			if h, ok := hostOf(c.Fleet, a); ok {
				pa.Host = h.Name
				targets = append(targets, target{Host: h.Name, Addr: a})
			} else {
				pa.Problem = "not the address of any fleet host; the CA may validate here and fail: remove the record or add the host to fleet.yaml"
			}
			pn.Addrs = append(pn.Addrs, pa)
		}
		checks := checkToken(ctx, targets, c.HTTPPort, name, token, content, 2*time.Second)
		for _, ch := range checks {
			for i := range pn.Addrs {
				if pn.Addrs[i].Addr == ch.Addr.String() {
					pn.Addrs[i].URL = ch.URL
					pn.Addrs[i].Problem = ch.Problem
				}
			}
		}
		rep.Names = append(rep.Names, pn)
	}
	return rep
}

// randomToken is 32 random bytes in base64url, like an ACME token.
func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// resolve returns the A and AAAA addresses of name, from server (host:port)
// or from the system resolver when server is "".
func resolve(ctx context.Context, server, name string) ([]netip.Addr, error) {
	var out []netip.Addr
	for _, family := range []string{"ip4", "ip6"} {
		addrs, err := dnsquery.Lookup(ctx, server, name, family, 5*time.Second)
		if err != nil {
			return nil, err
		}
		out = append(out, addrs...)
	}
	return out, nil
}

// PreflightError is returned when pre-flight failed: no order was placed.
type PreflightError struct {
	Report *Preflight
}

func (e *PreflightError) Error() string {
	return "pre-flight failed, no order placed:\n  " + strings.Join(e.Report.Problems(), "\n  ")
}
