package diagnose

import (
	"net/netip"
	"time"
)

// Proxy is what discovery found in front of the backend.
type Proxy struct {
	// Kind is "agent", "nginx", or "" when only a port or URL was given.
	Kind string
	// Source is where the configuration came from (a path, or "nginx -T").
	Source string
	// Upstreams in a stable order.
	Upstreams []*Upstream
	// Listeners are the proxy's own listening addresses.
	Listeners []Listener
	// HealthPath is the agent's own health path ("" for nginx).
	HealthPath string
	// ErrorLogs are the proxy's error log files (nginx).
	ErrorLogs []string
	// ServerNames are names the proxy serves, used as SNI for the TLS check.
	ServerNames []string
	// Looked says every configuration discovery looked for and what it
	// found, in order ("no agent configuration at …", "nginx
	// configuration from `nginx -T`").
	Looked []string
}

// Upstream is one pool of backend servers.
type Upstream struct {
	Name    string
	Scheme  string
	Servers []Server
	// HealthPath is probed on every server.
	HealthPath string
	// Keepalive is true when the proxy reuses idle connections to it.
	Keepalive bool
	// KeepaliveTimeout is how long the proxy keeps an idle connection.
	KeepaliveTimeout time.Duration
	// Where names the configuration position ("FILE:LINE") for fixes.
	Where string
	// Path is a request path the proxy routes to this upstream ("" unknown).
	Path string
	// Host is the Host header for Path.
	Host string
}

// Server is one upstream address.
type Server struct {
	Addr   netip.AddrPort
	Backup bool
	// Raw is the address as written in the configuration.
	Raw string
}

// Listener is one of the proxy's listening addresses.
type Listener struct {
	Addr netip.AddrPort
	TLS  bool
}

// loopbacks returns the loopback addresses a listener on l can be probed
// at: [::] gives both families, 0.0.0.0 gives 127.0.0.1.
func (l Listener) loopbacks() []netip.AddrPort {
	a := l.Addr.Addr()
	p := l.Addr.Port()
	switch {
	case a == netip.IPv6Unspecified():
		return []netip.AddrPort{netip.AddrPortFrom(netip.IPv6Loopback(), p), netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), p)}
	case a == netip.IPv4Unspecified():
		return []netip.AddrPort{netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), p)}
	}
	return []netip.AddrPort{l.Addr}
}

var (
	loop4 = netip.AddrFrom4([4]byte{127, 0, 0, 1})
	loop6 = netip.IPv6Loopback()
)

// family names the address family of a.
func family(a netip.Addr) string {
	if a.Is4() || a.Is4In6() {
		return "ipv4"
	}
	return "ipv6"
}

// ports returns the distinct backend ports in upstream order.
func (p *Proxy) ports() []uint16 {
	var out []uint16
	seen := map[uint16]bool{}
	for _, u := range p.Upstreams {
		for _, s := range u.Servers {
			if !seen[s.Addr.Port()] {
				seen[s.Addr.Port()] = true
				out = append(out, s.Addr.Port())
			}
		}
	}
	return out
}

// upstreamFor returns the first upstream with a server on port.
func (p *Proxy) upstreamFor(port uint16) *Upstream {
	for _, u := range p.Upstreams {
		for _, s := range u.Servers {
			if s.Addr.Port() == port {
				return u
			}
		}
	}
	return nil
}
