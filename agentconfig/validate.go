package agentconfig

import (
	"fmt"
	"net"
	"net/netip"
	"sort"
	"strconv"
	"strings"

	"github.com/edgectl/edgectl/proxy/balance"
)

// MaxServers is the most servers one upstream may list: the data plane
// tracks the servers a request tried in a 64-bit mask.
const MaxServers = 64

// Issue is a semantic problem at a dotted path in the document, such as
// "upstreams.api.servers[0].addr".
type Issue struct {
	Path string
	// Key is true when the problem is the key itself (point at the key).
	Key bool
	Msg string
}

// Validate checks the defaulted config and returns every problem found.
func (c *Config) Validate() []Issue {
	var is []Issue
	add := func(path string, key bool, format string, a ...any) {
		is = append(is, Issue{Path: path, Key: key, Msg: fmt.Sprintf(format, a...)})
	}
	seen := map[string]string{}
	for i, l := range c.Listen {
		p := fmt.Sprintf("listen[%d].addr", i)
		if err := checkListenAddr(l.Addr); err != nil {
			add(p, false, "%v", err)
			continue
		}
		if prev, dup := seen[l.Addr]; dup {
			add(p, false, "%s is already listed at %s", l.Addr, prev)
		}
		seen[l.Addr] = p
	}
	if c.Metrics != "" {
		if err := checkListenAddr(c.Metrics); err != nil {
			add("metrics", false, "%v", err)
		}
	}
	if !strings.HasPrefix(c.HealthPath, "/") {
		add("health_path", false, "health_path %q must start with /", c.HealthPath)
	}
	if c.Drain.Delay < 0 {
		add("drain.delay", false, "drain delay must not be negative")
	}
	if c.Drain.Timeout < 0 {
		add("drain.timeout", false, "drain timeout must not be negative")
	}
	if !strings.HasPrefix(c.Endpoints.Path, "/") {
		add("endpoints.path", false, "endpoints.path %q must start with /", c.Endpoints.Path)
	}
	if c.Endpoints.Protocol != "http" && c.Endpoints.Protocol != "https" {
		add("endpoints.protocol", false, "endpoints.protocol must be http or https, not %q", c.Endpoints.Protocol)
	}
	is = append(is, c.validatePaths()...)
	is = append(is, c.validateLimits()...)
	is = append(is, c.validateTrusted()...)
	if c.Endpoints.DefaultPort < 0 || c.Endpoints.DefaultPort > 65535 {
		add("endpoints.default_port", false, "default_port %d is not a port (0-65535)", c.Endpoints.DefaultPort)
	}
	names := make([]string, 0, len(c.Upstreams))
	for name := range c.Upstreams {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		is = append(is, validateUpstream("upstreams."+name, c.Upstreams[name])...)
	}
	for i, r := range c.Routes {
		p := fmt.Sprintf("routes[%d]", i)
		if r.Upstream == "" {
			add(p, false, "route needs an upstream")
		} else if _, ok := c.Upstreams[r.Upstream]; !ok {
			add(p+".upstream", false, "upstream %q is not defined under upstreams:%s", r.Upstream, known(names))
		}
		if r.Host != "" {
			if err := checkRouteHost(r.Host); err != nil {
				add(p+".host", false, "%v", err)
			}
		}
		if !strings.HasPrefix(r.Path, "/") {
			add(p+".path", false, "path %q must start with /", r.Path)
		}
	}
	for i, s := range c.Streams {
		p := fmt.Sprintf("streams[%d]", i)
		if err := checkListenAddr(s.Listen); err != nil {
			add(p+".listen", false, "%v", err)
		} else if prev, dup := seen[s.Listen]; dup {
			add(p+".listen", false, "%s is already listed at %s", s.Listen, prev)
		}
		seen[s.Listen] = p + ".listen"
		if _, ok := c.Upstreams[s.Upstream]; !ok {
			add(p+".upstream", false, "upstream %q is not defined under upstreams:%s", s.Upstream, known(names))
		}
	}
	is = append(is, c.validatePorts()...)
	return is
}

func known(names []string) string {
	if len(names) == 0 {
		return " none are"
	}
	return " known: " + strings.Join(names, ", ")
}

func validateUpstream(p string, u *Upstream) []Issue {
	var is []Issue
	add := func(path string, format string, a ...any) {
		is = append(is, Issue{Path: path, Msg: fmt.Sprintf(format, a...)})
	}
	if u == nil {
		return []Issue{{Path: p, Key: true, Msg: "upstream has no settings; it needs at least servers:"}}
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		add(p+".scheme", "scheme must be http or https, not %q", u.Scheme)
	}
	if u.Scheme == "http" && u.ServerName != "" {
		add(p+".server_name", "server_name needs scheme: https")
	}
	if u.Scheme == "http" && u.CAFile != "" {
		add(p+".ca_file", "ca_file needs scheme: https")
	}
	if _, ok := balance.Lookup(u.Policy); !ok {
		add(p+".policy", "policy must be %s, not %q", balance.Phrase(), u.Policy)
	}
	if u.Servers == nil {
		is = append(is, Issue{Path: p, Key: true, Msg: "upstream has no servers"})
	} else if len(u.Servers) == 0 {
		add(p+".servers", "upstream has no servers")
	}
	primaries := 0
	seen := map[string]bool{}
	for i, s := range u.Servers {
		sp := fmt.Sprintf("%s.servers[%d]", p, i)
		if err := checkDialAddr(s.Addr); err != nil {
			add(sp+".addr", "%v", err)
		} else if seen[s.Addr] {
			add(sp+".addr", "server %s is listed twice", s.Addr)
		}
		seen[s.Addr] = true
		if s.Weight < 1 || s.Weight > 1000 {
			add(sp+".weight", "weight must be 1-1000, not %d", s.Weight)
		}
		if !s.Backup {
			primaries++
		}
	}
	if len(u.Servers) > MaxServers {
		add(fmt.Sprintf("%s.servers[%d]", p, MaxServers), "an upstream holds at most %d servers; this is server %d of %d: split them into several upstreams",
			MaxServers, MaxServers+1, len(u.Servers))
	}
	if len(u.Servers) > 0 && primaries == 0 {
		add(p+".servers", "every server is a backup; mark at least one as primary (backup: false)")
	}
	if u.MaxFails != nil && *u.MaxFails < 0 {
		add(p+".max_fails", "max_fails must not be negative")
	}
	if u.Tries < 1 || u.Tries > 16 {
		add(p+".tries", "tries must be 1-16, not %d", u.Tries)
	}
	if u.Keepalive != nil && (*u.Keepalive < 0 || *u.Keepalive > 4096) {
		add(p+".keepalive", "keepalive must be 0-4096, not %d", *u.Keepalive)
	}
	for _, d := range []struct {
		name string
		v    int64
	}{{"fail_timeout", int64(u.FailTimeout)}, {"keepalive_timeout", int64(u.KeepaliveTimeout)},
		{"connect_timeout", int64(u.ConnectTimeout)}, {"response_timeout", int64(u.ResponseTimeout)},
		{"read_timeout", int64(u.ReadTimeout)}} {
		if d.v < 0 {
			add(p+"."+d.name, "%s must not be negative", d.name)
		}
	}
	if h := u.Health; h != nil {
		if !strings.HasPrefix(h.Path, "/") {
			add(p+".health.path", "health path %q must start with /", h.Path)
		}
		if h.Interval <= 0 {
			add(p+".health.interval", "health interval must be positive")
		}
		if h.Timeout <= 0 {
			add(p+".health.timeout", "health timeout must be positive")
		}
		if h.Rise < 1 {
			add(p+".health.rise", "health rise must be at least 1")
		}
		if h.Fall < 1 {
			add(p+".health.fall", "health fall must be at least 1")
		}
	}
	return is
}

// checkListenAddr accepts host:port where host is empty, an IP literal or
// localhost, and port is 1-65535.
func checkListenAddr(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q is not host:port (IPv6 in brackets, e.g. \"[::]:80\"): %v", addr, errText(err))
	}
	if err := checkPort(addr, port); err != nil {
		return err
	}
	if host == "" || host == "localhost" {
		return nil
	}
	if _, err := netip.ParseAddr(host); err != nil {
		return fmt.Errorf("%q: listen host must be an IP address such as [::] or 0.0.0.0", addr)
	}
	return nil
}

// checkDialAddr accepts host:port where host is an IP literal or a DNS name.
func checkDialAddr(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q is not host:port (IPv6 in brackets, e.g. \"[::1]:8000\"): %v", addr, errText(err))
	}
	if err := checkPort(addr, port); err != nil {
		return err
	}
	if host == "" {
		return fmt.Errorf("%q has no host", addr)
	}
	if a, err := netip.ParseAddr(host); err == nil {
		if a.IsUnspecified() {
			return fmt.Errorf("%q: cannot connect to the unspecified address; use [::1] or 127.0.0.1", addr)
		}
		return nil
	}
	if !validHostname(host) {
		return fmt.Errorf("%q: %q is neither an IP address nor a hostname", addr, host)
	}
	return nil
}

func checkPort(addr, port string) error {
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("%q: port %q must be a number 1-65535", addr, port)
	}
	return nil
}

func checkRouteHost(h string) error {
	name := strings.TrimPrefix(h, "*.")
	if strings.Contains(name, "*") || !validHostname(name) {
		return fmt.Errorf("host %q must be a hostname or *.domain", h)
	}
	return nil
}

func validHostname(h string) bool {
	if len(h) == 0 || len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(h, ".") {
		if len(label) == 0 || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

func errText(err error) string {
	if ae, ok := err.(*net.AddrError); ok {
		return ae.Err
	}
	return err.Error()
}
