package diagnose

import (
	"net"
	"net/netip"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/edgectl/edgectl/nginxconf"
)

// nginxDefaultErrorLog is Debian's compiled-in error log.
const nginxDefaultErrorLog = "/var/log/nginx/error.log"

// nginxProxy turns a parsed nginx configuration into the proxy model:
// upstream blocks, proxy_pass targets (a literal address becomes an
// upstream of its own), listeners, server names and error logs. prefix
// resolves relative error_log paths (nginx -p).
func nginxProxy(cfg *nginxconf.Config, prefix string) *Proxy {
	p := &Proxy{Kind: "nginx", Source: "nginx -T"}
	if len(cfg.Files) > 0 {
		p.Source = cfg.Files[0]
	}
	addLog := func(ds []*nginxconf.Directive) {
		for _, d := range nginxconf.Find(ds, "error_log") {
			f := d.Arg(0)
			if f == "" || f == "stderr" || strings.HasPrefix(f, "syslog:") || strings.HasPrefix(f, "memory:") || f == "/dev/null" {
				continue
			}
			if !path.IsAbs(f) {
				f = path.Join(prefix, f)
			}
			if !slices.Contains(p.ErrorLogs, f) {
				p.ErrorLogs = append(p.ErrorLogs, f)
			}
		}
	}
	addLog(cfg.Main)
	byName := map[string]*Upstream{}
	for _, h := range nginxconf.Find(cfg.Main, "http") {
		addLog(h.Block)
		for _, d := range nginxconf.Find(h.Block, "upstream") {
			u := nginxUpstream(d)
			byName[u.Name] = u
			p.Upstreams = append(p.Upstreams, u)
		}
		for _, srv := range nginxconf.Find(h.Block, "server") {
			addLog(srv.Block)
			var names []string
			for _, d := range nginxconf.Find(srv.Block, "server_name") {
				for _, n := range d.Args {
					if n != "_" && n != "" && !strings.ContainsAny(n, "*~") && !slices.Contains(p.ServerNames, n) {
						p.ServerNames = append(p.ServerNames, n)
					}
					names = append(names, n)
				}
			}
			listens := nginxconf.Find(srv.Block, "listen")
			if len(listens) == 0 {
				p.Listeners = appendListener(p.Listeners, Listener{Addr: netip.AddrPortFrom(netip.IPv4Unspecified(), 80)})
			}
			for _, d := range listens {
				if l, ok := nginxListen(d); ok {
					p.Listeners = appendListener(p.Listeners, l)
				}
			}
			host := ""
			if len(names) > 0 && names[0] != "_" && !strings.ContainsAny(names[0], "*~") {
				host = names[0]
			}
			walkLocations(srv.Block, func(loc, target string, d *nginxconf.Directive) {
				u := byName[target]
				if u == nil {
					addrs := parseAddrs(target, 80)
					if len(addrs) == 0 {
						return
					}
					u = &Upstream{Name: target, Scheme: "http", HealthPath: "/health", Where: d.Where(), KeepaliveTimeout: 60 * time.Second}
					for _, a := range addrs {
						u.Servers = append(u.Servers, Server{Addr: a, Raw: target})
					}
					byName[target] = u
					p.Upstreams = append(p.Upstreams, u)
				}
				if strings.HasPrefix(d.Arg(0), "https://") {
					u.Scheme = "https"
				}
				if u.Path == "" && loc != "" {
					u.Path, u.Host = loc, host
				}
			})
		}
	}
	if len(p.ErrorLogs) == 0 {
		p.ErrorLogs = []string{nginxDefaultErrorLog}
	}
	return p
}

func appendListener(ls []Listener, l Listener) []Listener {
	for _, x := range ls {
		if x == l {
			return ls
		}
	}
	return append(ls, l)
}

// nginxUpstream reads an upstream block.
func nginxUpstream(d *nginxconf.Directive) *Upstream {
	u := &Upstream{Name: d.Arg(0), Scheme: "http", HealthPath: "/health", Where: d.Where(), KeepaliveTimeout: 60 * time.Second}
	for _, s := range d.Block {
		switch s.Name {
		case "server":
			if slices.Contains(s.Args, "down") {
				continue
			}
			backup := slices.Contains(s.Args, "backup")
			for _, a := range parseAddrs(s.Arg(0), 80) {
				u.Servers = append(u.Servers, Server{Addr: a, Backup: backup, Raw: s.Arg(0)})
			}
		case "keepalive":
			if n, err := strconv.Atoi(s.Arg(0)); err == nil && n > 0 {
				u.Keepalive = true
			}
		case "keepalive_timeout":
			if t, ok := nginxconf.ParseDuration(s.Arg(0)); ok {
				u.KeepaliveTimeout = t
			}
		}
	}
	return u
}

// walkLocations calls fn for every proxy_pass under ds (locations nest),
// with the enclosing prefix location and the upstream name or address.
func walkLocations(ds []*nginxconf.Directive, fn func(loc, target string, d *nginxconf.Directive)) {
	var walk func(ds []*nginxconf.Directive, loc string)
	walk = func(ds []*nginxconf.Directive, loc string) {
		for _, d := range ds {
			switch {
			case d.Name == "proxy_pass":
				if t := proxyPassTarget(d.Arg(0)); t != "" {
					fn(loc, t, d)
				}
			case d.Name == "location" && d.Block != nil:
				l := ""
				switch len(d.Args) {
				case 1:
					l = d.Args[0]
				case 2:
					if d.Args[0] == "=" || d.Args[0] == "^~" {
						l = d.Args[1]
					}
				}
				if strings.HasPrefix(l, "@") {
					l = ""
				}
				walk(d.Block, l)
			case d.Block != nil && d.Name == "if":
				walk(d.Block, loc)
			}
		}
	}
	walk(ds, "")
}

// proxyPassTarget returns NAME or ADDR from "http://NAME[:port][/uri]";
// "" for variables and unix sockets.
func proxyPassTarget(u string) string {
	rest, ok := strings.CutPrefix(u, "http://")
	if !ok {
		rest, ok = strings.CutPrefix(u, "https://")
	}
	if !ok || strings.Contains(rest, "$") || strings.HasPrefix(rest, "unix:") {
		return ""
	}
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		rest = rest[:i]
	}
	return rest
}

// nginxListen reads a listen directive.
func nginxListen(d *nginxconf.Directive) (Listener, bool) {
	a := d.Arg(0)
	if a == "" || strings.HasPrefix(a, "unix:") {
		return Listener{}, false
	}
	l := Listener{TLS: slices.Contains(d.Args, "ssl")}
	if n, err := strconv.Atoi(a); err == nil {
		l.Addr = netip.AddrPortFrom(netip.IPv4Unspecified(), uint16(n))
		return l, true
	}
	if a == "*" || strings.HasPrefix(a, "*:") {
		a = "0.0.0.0" + strings.TrimPrefix(a, "*")
	}
	if addrs := parseAddrs(a, 80); len(addrs) > 0 {
		l.Addr = addrs[0]
		return l, true
	}
	return Listener{}, false
}

// parseAddrs parses "ip:port", "[v6]:port", "ip" or "localhost[:port]"
// (both loopbacks, as nginx resolves it). Other names give nothing.
func parseAddrs(s string, defPort uint16) []netip.AddrPort {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return []netip.AddrPort{netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())}
	}
	host, port := s, defPort
	if h, p, err := net.SplitHostPort(s); err == nil {
		n, err := strconv.ParseUint(p, 10, 16)
		if err != nil {
			return nil
		}
		host, port = h, uint16(n)
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if host == "localhost" {
		return []netip.AddrPort{netip.AddrPortFrom(loop4, port), netip.AddrPortFrom(loop6, port)}
	}
	if a, err := netip.ParseAddr(host); err == nil {
		return []netip.AddrPort{netip.AddrPortFrom(a.Unmap(), port)}
	}
	return nil
}
