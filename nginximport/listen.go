package nginximport

import (
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/edgectl/edgectl/nginxconf"
)

// listenInfo is one listen directive.
type listenInfo struct {
	host string // "" for every address, else an IP literal
	port string
	tls  bool
	def  bool
	d    *nginxconf.Directive
}

// parseListen reads a listen directive; ok is false for what the agent
// cannot listen on (unix sockets, a hostname), which is reported.
func (t *translator) parseListen(d *nginxconf.Directive) (listenInfo, bool) {
	l := listenInfo{d: d, tls: slices.Contains(d.Args, "ssl")}
	for _, a := range d.Args[min(1, len(d.Args)):] {
		switch {
		case a == "default_server" || a == "default":
			l.def = true
		case a == "proxy_protocol":
			t.rep.drop(d, Important, "nginx read the PROXY protocol header from a load balancer in front of it; the agent does not, so that balancer must stop sending it")
		case a == "quic" || a == "http3":
			t.rep.drop(d, Cosmetic, "HTTP/3 (QUIC); the agent serves HTTP/1.1 and HTTP/2")
		}
	}
	a := d.Arg(0)
	switch {
	case a == "":
		return l, false
	case strings.HasPrefix(a, "unix:"):
		t.rep.drop(d, Important, "a unix socket; the agent listens on TCP addresses only")
		return l, false
	}
	host, port, err := net.SplitHostPort(a)
	switch {
	case err == nil:
	case strings.Trim(a, "0123456789") == "":
		host, port = "", a
	default:
		host, port = strings.Trim(a, "[]"), "80"
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil || n == 0 {
		t.rep.drop(d, Important, "not an address and port the importer understands")
		return l, false
	}
	l.port = strconv.FormatUint(n, 10)
	switch host {
	case "*", "0.0.0.0", "::", "":
		return l, true
	case "localhost":
		host = "127.0.0.1"
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || ip.Zone() != "" {
		t.rep.note(d, "listens on a name; the agent listens on every address of port "+port)
		return l, true
	}
	l.host = ip.Unmap().String()
	return l, true
}

// wildcard reports whether l listens on every address.
func (l listenInfo) wildcard() bool { return l.host == "" }

// loopback reports whether l listens on a loopback address only.
func (l listenInfo) loopback() bool {
	ip, err := netip.ParseAddr(l.host)
	return err == nil && ip.IsLoopback()
}

// family says which families a wildcard listen of nginx served: "ipv4"
// for "listen 80", "ipv6" for "listen [::]:80" (ipv6only is on by
// default), "both" with ipv6only=off.
func (l listenInfo) family() string {
	a := l.d.Arg(0)
	if strings.HasPrefix(a, "[") {
		if slices.Contains(l.d.Args, "ipv6only=off") {
			return "both"
		}
		return "ipv6"
	}
	return "ipv4"
}

// buildListeners merges the listens of every translated server into the
// agent's listeners: one "[::]:port" per port (both families), plus
// specific addresses on ports that have no wildcard.
func (t *translator) buildListeners() {
	type portInfo struct {
		tls      bool
		wildcard bool
		families map[string]bool
		first    *nginxconf.Directive
		specific []listenInfo
	}
	ports := map[string]*portInfo{}
	var order []string
	for _, s := range t.servers {
		if s.skip {
			continue
		}
		for _, l := range s.listens {
			p := ports[l.port]
			if p == nil {
				p = &portInfo{families: map[string]bool{}, first: l.d}
				ports[l.port] = p
				order = append(order, l.port)
			}
			p.tls = p.tls || l.tls
			if l.wildcard() {
				p.wildcard = true
				p.families[l.family()] = true
			} else {
				p.specific = append(p.specific, l)
			}
		}
	}
	for _, port := range order {
		p := ports[port]
		if p.wildcard {
			t.out.listeners = append(t.out.listeners, &listenerOut{addr: net.JoinHostPort("::", port), tls: p.tls, from: p.first.Where()})
			switch {
			case p.families["both"] || p.families["ipv4"] && p.families["ipv6"]:
			case p.families["ipv4"]:
				t.rep.note(p.first, "nginx listened on IPv4 only on port "+port+"; the agent's [::]:"+port+" serves both families")
			default:
				t.rep.note(p.first, "nginx listened on IPv6 only on port "+port+"; the agent's [::]:"+port+" serves both families")
			}
			for _, l := range p.specific {
				t.rep.note(l.d, "the agent listens on every address of port "+port+", this one included")
			}
			continue
		}
		seen := map[string]bool{}
		for _, l := range p.specific {
			addr := net.JoinHostPort(l.host, port)
			if !seen[addr] {
				seen[addr] = true
				t.out.listeners = append(t.out.listeners, &listenerOut{addr: addr, tls: p.tls, from: l.d.Where()})
			}
		}
	}
}
