package diagnose

import (
	"context"
	"net/netip"
	"slices"
	"sync"

	"github.com/edgectl/edgectl/remote"
)

// findCandidates probes, for each backend port nothing listens on, the
// other local listeners (not the proxy's, not SSH) for the health path:
// the backend may be on another port.
func findCandidates(ctx context.Context, h remote.Host, o *Options, p *Proxy, socks []Socket) map[uint16][]candidate {
	out := map[uint16][]candidate{}
	if p.Kind == "" {
		return out // a bare --port: the user said where the backend is
	}
	proxyPorts := map[uint16]bool{22: true}
	proxyPIDs := map[int]bool{}
	for _, l := range p.Listeners {
		proxyPorts[l.Addr.Port()] = true
	}
	for _, s := range socks {
		if proxyPorts[s.Addr.Port()] && s.Owner != nil {
			proxyPIDs[s.Owner.PID] = true
		}
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, port := range p.ports() {
		v4, v6 := onPort(socks, port)
		if len(v4)+len(v6) > 0 {
			continue
		}
		u := p.upstreamFor(port)
		n := 0
		seen := map[netip.AddrPort]bool{}
		for _, s := range socks {
			a := s.Addr.Addr()
			if s.Addr.Port() == port || proxyPorts[s.Addr.Port()] || (s.Owner != nil && (proxyPIDs[s.Owner.PID] || s.Owner.Kind() == KindNginx || s.Owner.Name() == "edgectl")) {
				continue
			}
			if o.Port != 0 && int(port) != o.Port && int(s.Addr.Port()) != o.Port {
				continue // the user said where the backend is
			}
			var target netip.Addr
			switch {
			case a == netip.IPv4Unspecified() || a == loop4:
				target = loop4
			case a == netip.IPv6Unspecified() || a == loop6:
				target = loop6
			default:
				continue
			}
			ap := netip.AddrPortFrom(target, s.Addr.Port())
			if seen[ap] || n >= 16 {
				continue
			}
			seen[ap] = true
			n++
			wg.Add(1)
			go func() {
				defer wg.Done()
				spec := probeSpec{Addr: ap, Scheme: u.Scheme, Path: u.HealthPath}
				r := doProbe(ctx, h, spec, o.ProbeTimeout)
				told := o.Port != 0 && int(port) != o.Port && int(ap.Port()) == o.Port
				if r.OK() || told && r.Connected {
					mu.Lock()
					out[port] = append(out[port], candidate{Sock: s, Out: outcome{spec, r}})
					mu.Unlock()
				}
			}()
		}
	}
	wg.Wait()
	for _, c := range out {
		slices.SortFunc(c, func(a, b candidate) int { return int(a.Out.Spec.Addr.Port()) - int(b.Out.Spec.Addr.Port()) })
	}
	return out
}
