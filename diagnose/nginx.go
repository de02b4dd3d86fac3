package diagnose

import (
	"net"
	"net/netip"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
)

// nginxDefaultErrorLog is Debian's compiled-in error log.
const nginxDefaultErrorLog = "/var/log/nginx/error.log"

// nginxProxy turns a parsed nginx configuration into the proxy model:
// upstream blocks, proxy_pass targets (a literal address becomes an
// upstream of its own), listeners, server names and error logs. prefix
// resolves relative error_log paths (nginx -p).
func nginxProxy(cfg *NginxConfig, prefix string) *Proxy {
	p := &Proxy{Kind: "nginx", Source: "nginx -T"}
	if len(cfg.Files) > 0 {
		p.Source = cfg.Files[0]
	}
	addLog := func(ds []*Directive) {
		for _, d := range find(ds, "error_log") {
			f := d.arg(0)
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
	for _, h := range find(cfg.Main, "http") {
		addLog(h.Block)
		for _, d := range find(h.Block, "upstream") {
			u := nginxUpstream(d)
			byName[u.Name] = u
			p.Upstreams = append(p.Upstreams, u)
		}
		for _, srv := range find(h.Block, "server") {
			addLog(srv.Block)
			var names []string
			for _, d := range find(srv.Block, "server_name") {
				for _, n := range d.Args {
					if n != "_" && n != "" && !strings.ContainsAny(n, "*~") && !slices.Contains(p.ServerNames, n) {
						p.ServerNames = append(p.ServerNames, n)
					}
					names = append(names, n)
				}
			}
			listens := find(srv.Block, "listen")
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
			walkLocations(srv.Block, func(loc, target string, d *Directive) {
				u := byName[target]
				if u == nil {
					addrs := parseAddrs(target, 80)
					if len(addrs) == 0 {
						return
					}
					u = &Upstream{Name: target, Scheme: "http", HealthPath: "/health", Where: d.where(), KeepaliveTimeout: 60 * time.Second}
					for _, a := range addrs {
						u.Servers = append(u.Servers, Server{Addr: a, Raw: target})
					}
					byName[target] = u
					p.Upstreams = append(p.Upstreams, u)
				}
				if strings.HasPrefix(d.arg(0), "https://") {
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
func nginxUpstream(d *Directive) *Upstream {
	u := &Upstream{Name: d.arg(0), Scheme: "http", HealthPath: "/health", Where: d.where(), KeepaliveTimeout: 60 * time.Second}
	for _, s := range d.Block {
		switch s.Name {
		case "server":
			if slices.Contains(s.Args, "down") {
				continue
			}
			backup := slices.Contains(s.Args, "backup")
			for _, a := range parseAddrs(s.arg(0), 80) {
				u.Servers = append(u.Servers, Server{Addr: a, Backup: backup, Raw: s.arg(0)})
			}
		case "keepalive":
			if n, err := strconv.Atoi(s.arg(0)); err == nil && n > 0 {
				u.Keepalive = true
			}
		case "keepalive_timeout":
			if t, ok := nginxDuration(s.arg(0)); ok {
				u.KeepaliveTimeout = t
			}
		}
	}
	return u
}

// walkLocations calls fn for every proxy_pass under ds (locations nest),
// with the enclosing prefix location and the upstream name or address.
func walkLocations(ds []*Directive, fn func(loc, target string, d *Directive)) {
	var walk func(ds []*Directive, loc string)
	walk = func(ds []*Directive, loc string) {
		for _, d := range ds {
			switch {
			case d.Name == "proxy_pass":
				if t := proxyPassTarget(d.arg(0)); t != "" {
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
func nginxListen(d *Directive) (Listener, bool) {
	a := d.arg(0)
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

// nginxDuration parses nginx time values: "60", "60s", "500ms", "1m30s".
func nginxDuration(s string) (time.Duration, bool) {
	if s == "" {
		return 0, false
	}
	if n, err := strconv.Atoi(s); err == nil {
		return time.Duration(n) * time.Second, true
	}
	var total time.Duration
	units := map[string]time.Duration{"ms": time.Millisecond, "s": time.Second, "m": time.Minute, "h": time.Hour, "d": 24 * time.Hour}
	for s != "" {
		i := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == 0 {
			return 0, false
		}
		n, _ := strconv.Atoi(s[:i])
		s = s[i:]
		j := 0
		for j < len(s) && (s[j] < '0' || s[j] > '9') {
			j++
		}
		u, ok := units[s[:j]]
		if !ok {
			return 0, false
		}
		total += time.Duration(n) * u
		s = s[j:]
	}
	return total, true
}
