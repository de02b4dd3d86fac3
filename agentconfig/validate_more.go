package agentconfig

import (
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"sort"
	"strings"
)

// maxUnixPath is the longest path a unix socket can be bound to
// (sun_path holds 108 bytes with the terminating NUL).
const maxUnixPath = 107

// validatePaths checks every file and directory the agent reads or writes:
// absolute (the agent runs from /, so a relative path would depend on where
// it was started, and one starting with "-" would read as an option to the
// tools that handle it on a host), one line, no NUL.
func (c *Config) validatePaths() []Issue {
	var is []Issue
	check := func(path, key, v string) {
		if msg := badPath(v); msg != "" {
			is = append(is, Issue{Path: path, Msg: fmt.Sprintf("%s %q %s", key, v, msg)})
		}
	}
	if c.Admin != "" {
		check("admin", "admin", c.Admin)
		if len(c.Admin) > maxUnixPath {
			is = append(is, Issue{Path: "admin", Msg: fmt.Sprintf("admin socket path is %d bytes; a unix socket path holds at most %d: use a shorter one such as %s",
				len(c.Admin), maxUnixPath, DefaultAdmin)})
		}
	}
	if c.AccessLog != "stderr" && c.AccessLog != "off" {
		check("access_log", "access_log", c.AccessLog)
	}
	check("tls.certs_dir", "tls.certs_dir", c.TLS.CertsDir)
	check("acme_challenge_dir", "acme_challenge_dir", c.ACMEChallengeDir)
	check("endpoints.file", "endpoints.file", c.Endpoints.File)
	for _, name := range sortedKeys(c.Upstreams) {
		if u := c.Upstreams[name]; u != nil && u.CAFile != "" {
			check("upstreams."+name+".ca_file", "ca_file", u.CAFile)
		}
	}
	return is
}

// badPath says what is wrong with p as a path on a host, or "".
func badPath(p string) string {
	switch {
	case strings.HasPrefix(p, "-"):
		return "starts with \"-\" and would be read as an option; give an absolute path"
	case strings.ContainsAny(p, "\x00\n\r"):
		return "holds a NUL or a line break"
	case !filepath.IsAbs(p):
		return "must be an absolute path (the agent runs from /; a relative path would depend on where it was started)"
	}
	return ""
}

func (c *Config) validateLimits() []Issue {
	var is []Issue
	add := func(key, format string, a ...any) {
		is = append(is, Issue{Path: "limits." + key, Msg: fmt.Sprintf(format, a...)})
	}
	l := c.Limits
	for _, d := range []struct {
		key string
		v   int64
	}{{"header_timeout", int64(l.HeaderTimeout)}, {"body_timeout", int64(l.BodyTimeout)},
		{"send_timeout", int64(l.SendTimeout)}, {"idle_timeout", int64(l.IdleTimeout)}} {
		if d.v < 0 {
			add(d.key, "%s must be positive (absent or 0 is the default)", d.key)
		}
	}
	if l.MaxConns < 0 || l.MaxConns > 1_000_000 {
		add("max_conns", "max_conns must be 1-1000000 (absent or 0 is %d), not %d", DefaultMaxConns, l.MaxConns)
	}
	if l.MaxConnsPerIP < 0 {
		add("max_conns_per_ip", "max_conns_per_ip must not be negative (0 is no cap)")
	} else if l.MaxConnsPerIP > l.MaxConns && l.MaxConns > 0 {
		add("max_conns_per_ip", "max_conns_per_ip %d is above max_conns %d and would never apply", l.MaxConnsPerIP, l.MaxConns)
	}
	if l.MaxBody < 0 {
		add("max_body", "max_body must not be negative (0 is no cap)")
	}
	if l.H2MaxStreams < 0 || l.H2MaxStreams > 10000 {
		add("h2_max_streams", "h2_max_streams must be 1-10000 (absent or 0 is %d), not %d", DefaultH2MaxStreams, l.H2MaxStreams)
	}
	return is
}

func (c *Config) validateTrusted() []Issue {
	var is []Issue
	for i, s := range c.TrustedProxies {
		if _, err := parseTrusted(s); err != nil {
			is = append(is, Issue{Path: fmt.Sprintf("trusted_proxies[%d]", i), Msg: err.Error()})
		}
	}
	return is
}

// parseTrusted reads one trusted_proxies entry: a CIDR or a single IP.
func parseTrusted(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%q is not a CIDR such as 198.18.0.0/24 or fd00::/8", s)
		}
		if p.Masked() != p {
			return netip.Prefix{}, fmt.Errorf("%q has host bits set; did you mean %s?", s, p.Masked())
		}
		return p, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("%q is neither an IP address nor a CIDR", s)
	}
	return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
}

// Trusted returns trusted_proxies as prefixes (IPv4 ones unmapped). Call it
// on a validated config; entries that do not parse are left out.
func (c *Config) Trusted() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range c.TrustedProxies {
		p, err := parseTrusted(s)
		if err != nil {
			continue
		}
		if p.Addr().Is4In6() {
			// ::ffff:198.18.0.0/120 is 198.18.0.0/24: peers are unmapped.
			p = netip.PrefixFrom(p.Addr().Unmap(), max(p.Bits()-96, 0))
		}
		out = append(out, p)
	}
	return out
}

// validatePorts finds TCP listeners (listen, streams, metrics) that could
// not all be opened: on one port, the dual-stack wildcard "[::]" takes
// every address of both families and "0.0.0.0" every IPv4 one, so "[::]:80"
// and "0.0.0.0:80" (or "127.0.0.1:80") fail at start with "address already
// in use". Identical addresses are reported by the duplicate check.
func (c *Config) validatePorts() []Issue {
	type bound struct {
		path, addr, host, port string
	}
	var all []bound
	addBound := func(path, addr string) {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return
		}
		all = append(all, bound{path, addr, host, port})
	}
	for i, l := range c.Listen {
		addBound(fmt.Sprintf("listen[%d].addr", i), l.Addr)
	}
	for i, s := range c.Streams {
		addBound(fmt.Sprintf("streams[%d].listen", i), s.Listen)
	}
	if c.Metrics != "" {
		addBound("metrics", c.Metrics)
	}
	var is []Issue
	for j := range all {
		for i := 0; i < j; i++ {
			a, b := all[i], all[j]
			if a.port != b.port || a.addr == b.addr || !overlap(a.host, b.host) {
				continue
			}
			is = append(is, Issue{Path: b.path, Msg: fmt.Sprintf("%s cannot open next to %s (at %s): %s; remove one of them",
				b.addr, a.addr, a.path, why(a.host, b.host, b.port))})
			break
		}
	}
	return is
}

// why explains the overlap of two listeners on port.
func why(a, b, port string) string {
	for _, h := range []string{a, b} {
		if s := listenSet(h); s.all {
			return "\"[::]:" + port + "\" takes port " + port + " on every IPv4 and IPv6 address (the agent opens it dual-stack)"
		}
	}
	for _, h := range []string{a, b} {
		if s := listenSet(h); s.all4 {
			return "\"0.0.0.0:" + port + "\" takes port " + port + " on every IPv4 address"
		}
	}
	return "both take port " + port + " on the same address"
}

// overlap reports whether listeners on hosts a and b (same port) would
// claim a common address.
func overlap(a, b string) bool {
	na, nb := listenSet(a), listenSet(b)
	if na.all || nb.all {
		return true
	}
	if (na.all4 && (nb.all4 || nb.v4)) || (nb.all4 && na.v4) {
		return true
	}
	for _, x := range na.addrs {
		for _, y := range nb.addrs {
			if x == y {
				return true
			}
		}
	}
	return false
}

type addrSet struct {
	all   bool // every address of both families
	all4  bool // every IPv4 address
	v4    bool // holds a specific IPv4 address
	addrs []netip.Addr
}

func listenSet(host string) addrSet {
	switch host {
	case "", "::":
		return addrSet{all: true}
	case "0.0.0.0":
		return addrSet{all4: true}
	case "localhost":
		return addrSet{v4: true, addrs: []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.IPv6Loopback()}}
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return addrSet{}
	}
	a = a.Unmap()
	return addrSet{v4: a.Is4(), addrs: []netip.Addr{a}}
}

func sortedKeys(m map[string]*Upstream) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
