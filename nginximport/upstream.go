package nginximport

import (
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/edgectl/edgectl/nginxconf"
)

// nginx's defaults for a server line.
const (
	nginxMaxFails    = 1
	nginxFailTimeout = 10 * time.Second
)

// serverParams is one server line's passive health settings as nginx
// applied them.
type serverParams struct {
	maxFails int
	failTO   time.Duration
	explicit bool
	d        *nginxconf.Directive
	backup   bool
}

// upstreamBlock translates an upstream block (used or not: settleUpstreams
// keeps those a route uses).
func (t *translator) upstreamBlock(d *nginxconf.Directive) {
	name := d.Arg(0)
	out := name
	for i := 2; t.names[out]; i++ {
		out = name + "_" + strconv.Itoa(i) // a stream upstream named like an http one
	}
	u := &upstreamOut{name: out, from: d.Where(), d: d}
	t.blocks[name] = u
	t.names[out] = true
	t.ups = append(t.ups, u)
	var params []serverParams
	for _, s := range d.Block {
		switch s.Name {
		case "server":
			if p, ok := t.upstreamServer(u, s); ok {
				params = append(params, p)
			}
		case "keepalive":
			if n, err := strconv.Atoi(s.Arg(0)); err == nil && n >= 0 {
				n = min(n, 4096)
				u.keepalive = &n
			}
		case "keepalive_timeout":
			if v, ok := nginxconf.ParseDuration(s.Arg(0)); ok {
				u.keepTO = v
			}
		case "least_conn":
			u.policy = "least_conn"
		case "random":
			t.rep.drop(s, Cosmetic, "random balancing; the agent balances round_robin (smooth weighted)")
		case "ip_hash", "hash", "sticky":
			t.rep.drop(s, Important, "each client stuck to one server; the agent balances every request, so keep sessions in a store the servers share")
		case "ntlm":
			t.rep.drop(s, Important, "NTLM connection binding; the agent does not bind client and upstream connections")
		case "zone", "keepalive_requests", "keepalive_time", "resolver", "resolver_timeout":
		default:
			t.other(s, true)
		}
	}
	t.passive(u, params)
	if len(u.servers) == 0 {
		u.unusable = true
		return
	}
	primary := false
	for _, s := range u.servers {
		primary = primary || !s.backup
	}
	if !primary {
		u.servers[0].backup = false
		t.rep.note(d, "every usable server was a backup; the first, "+u.servers[0].addr+", is the agent's primary")
	}
}

// upstreamServer reads "server ADDR [weight=N] [max_fails=N]
// [fail_timeout=T] [backup] [down] …".
func (t *translator) upstreamServer(u *upstreamOut, d *nginxconf.Directive) (serverParams, bool) {
	p := serverParams{maxFails: nginxMaxFails, failTO: nginxFailTimeout, d: d}
	weight := 1
	for _, a := range d.Args[min(1, len(d.Args)):] {
		k, v, _ := strings.Cut(a, "=")
		switch k {
		case "weight":
			if n, err := strconv.Atoi(v); err == nil && n > 0 {
				if n > 1000 {
					t.rep.drop(d, Cosmetic, "weight "+v+" is above the agent's 1000; 1000 is used")
					n = 1000
				}
				weight = n
			}
		case "max_fails":
			if n, err := strconv.Atoi(v); err == nil && n >= 0 {
				p.maxFails, p.explicit = n, true
			}
		case "fail_timeout":
			if dv, ok := nginxconf.ParseDuration(v); ok {
				p.failTO, p.explicit = dv, true
			}
		case "backup":
			p.backup = true
		case "down":
			t.rep.drop(d, Cosmetic, "marked down in nginx; left out")
			return p, false
		case "max_conns", "slow_start", "resolve", "drain", "route":
			t.rep.drop(d, Cosmetic, k+" has no agent equivalent; the server is kept without it")
		case "service":
			t.rep.drop(d, Important, "servers found by DNS SRV records; list them instead")
			return p, false
		}
	}
	addrs, ok := t.serverAddrs(d.Arg(0), "80", d)
	if !ok {
		return p, false
	}
	for _, a := range addrs {
		u.servers = append(u.servers, serverOut{addr: a, backup: p.backup, weight: weight, from: d.Where()})
	}
	return p, true
}

// serverAddrs turns an nginx address into agent server addresses:
// "localhost" is both loopbacks, as nginx resolves it; a unix socket
// cannot be dialled by the agent.
func (t *translator) serverAddrs(a, defPort string, d *nginxconf.Directive) ([]string, bool) {
	if strings.HasPrefix(a, "unix:") {
		t.rep.drop(d, Important, "a unix socket; the agent dials TCP addresses only: bind the backend to [::]:PORT (or use a socket unit)")
		return nil, false
	}
	host, port, err := net.SplitHostPort(a)
	if err != nil {
		host, port = strings.Trim(a, "[]"), defPort
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
		t.rep.drop(d, Important, "not an address the importer understands")
		return nil, false
	}
	if host == "localhost" {
		t.rep.note(d, "localhost is both [::1] and 127.0.0.1 to nginx; the agent gets both as servers")
		return []string{net.JoinHostPort("::1", port), net.JoinHostPort("127.0.0.1", port)}, true
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		if ip.IsUnspecified() || ip.Zone() != "" {
			t.rep.drop(d, Important, "not an address the agent can dial")
			return nil, false
		}
		return []string{net.JoinHostPort(ip.Unmap().String(), port)}, true
	}
	if !validName(host) {
		t.rep.drop(d, Important, "not an address the importer understands")
		return nil, false
	}
	return []string{net.JoinHostPort(host, port)}, true
}

// validName is a DNS name as the agent accepts it.
func validName(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	for _, l := range strings.Split(h, ".") {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for _, c := range l {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// passive sets the upstream's max_fails and fail_timeout: the agent has one
// pair per upstream, nginx one per server line.
func (t *translator) passive(u *upstreamOut, params []serverParams) {
	var ref *serverParams
	for i := range params {
		if !params[i].backup {
			ref = &params[i]
			break
		}
	}
	if ref == nil && len(params) > 0 {
		ref = &params[0]
	}
	if ref == nil {
		return
	}
	explicit := false
	for _, p := range params {
		explicit = explicit || p.explicit
	}
	if !explicit {
		return // nginx's 1 and 10s: the agent's defaults (3 and 30s) are kept
	}
	mf := ref.maxFails
	u.maxFails, u.failTO = &mf, ref.failTO
	for _, p := range params {
		if p.maxFails != ref.maxFails || p.failTO != ref.failTO {
			t.rep.drop(p.d, Cosmetic, "the agent has one max_fails and fail_timeout per upstream; those of "+ref.d.Where()+" are used")
		}
	}
}

// target resolves a proxy_pass: the upstream (a block, or one made for
// the address) and the URI part ("" when none). With create false nothing
// is made or reported.
func (t *translator) target(d *nginxconf.Directive, sc scope, create bool) (*upstreamOut, string, bool) {
	fail := func(imp Importance, why string) (*upstreamOut, string, bool) {
		if create {
			t.rep.drop(d, imp, why)
		}
		return nil, "", false
	}
	raw := d.Arg(0)
	scheme := "http"
	rest, ok := strings.CutPrefix(raw, "http://")
	if !ok {
		if rest, ok = strings.CutPrefix(raw, "https://"); !ok {
			return fail(Important, "not an http(s) URL the agent can proxy to")
		}
		scheme = "https"
	}
	if strings.Contains(rest, "$") {
		return fail(Important, "the target is built from variables per request; the agent needs a fixed upstream")
	}
	if strings.HasPrefix(rest, "unix:") {
		return fail(Important, "a unix socket; the agent dials TCP addresses only: bind the backend to [::]:PORT (or use a socket unit)")
	}
	hostport, uri := rest, ""
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		hostport, uri = rest[:i], rest[i:]
	}
	u := t.blocks[hostport]
	if u == nil {
		key := scheme + "://" + hostport
		u = t.literal[key]
		if u == nil {
			if !create {
				return nil, "", false
			}
			defPort := "80"
			if scheme == "https" {
				defPort = "443"
			}
			addrs, ok := t.serverAddrs(hostport, defPort, d)
			if !ok {
				return nil, "", false
			}
			u = &upstreamOut{name: t.literalName(hostport, defPort), from: d.Where(), scheme: scheme}
			for _, a := range addrs {
				u.servers = append(u.servers, serverOut{addr: a, weight: 1, from: d.Where()})
			}
			t.literal[key] = u
			t.ups = append(t.ups, u)
		}
	}
	if u.unusable {
		return fail(Important, "its upstream "+u.name+" has no server the agent can dial")
	}
	if !create {
		return u, uri, true
	}
	if u.scheme == "" {
		u.scheme = scheme
	} else if u.scheme != scheme {
		t.rep.note(d, "upstream "+u.name+" is also used with "+u.scheme+"; the agent uses "+u.scheme+" for all of it")
	}
	u.used = true
	t.applyScope(u, d, sc)
	return u, uri, true
}

// literalName names the upstream made for a proxy_pass to an address:
// backend_PORT, or the host name's labels and the port.
func (t *translator) literalName(hostport, defPort string) string {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		host, port = strings.Trim(hostport, "[]"), defPort
	}
	base := "backend_" + port
	if _, err := netip.ParseAddr(host); err != nil && host != "localhost" {
		base = strings.NewReplacer(".", "_", "-", "_").Replace(host) + "_" + port
	}
	name := base
	for i := 2; t.names[name]; i++ {
		name = base + "_" + strconv.Itoa(i)
	}
	t.names[name] = true
	return name
}

// applyScope takes the timeouts and TLS settings of the location that
// proxies to u.
func (t *translator) applyScope(u *upstreamOut, d *nginxconf.Directive, sc scope) {
	if v, src, ok := sc.duration("proxy_connect_timeout"); ok {
		t.settle(&u.connect, &u.seenConnect, v, src, u.name, "connect_timeout")
	}
	if v, src, ok := sc.duration("proxy_read_timeout"); ok {
		t.settle(&u.read, &u.seenRead, v, src, u.name, "response_timeout and read_timeout")
		u.response = u.read
	}
	if n := sc["proxy_next_upstream_tries"]; n != nil {
		if v, err := strconv.Atoi(n.Arg(0)); err == nil && v > 0 {
			u.tries = max(u.tries, min(v, 16))
		}
	}
	if u.scheme == "https" || strings.HasPrefix(d.Arg(0), "https://") {
		if n := sc["proxy_ssl_name"]; n != nil && !strings.Contains(n.Arg(0), "$") {
			u.serverName = n.Arg(0)
		}
		if c := sc["proxy_ssl_trusted_certificate"]; c != nil {
			u.caFile = c.Arg(0)
		}
		if v := sc["proxy_ssl_verify"]; v == nil || v.Arg(0) != "on" {
			t.rep.note(d, "nginx did not verify the certificate of "+u.name+" (proxy_ssl_verify is off by default); the agent does: set ca_file for a private CA")
		}
	}
}

// settle keeps the largest of the timeouts the locations of one upstream
// set, noting when they differ.
func (t *translator) settle(dst *time.Duration, seen *map[time.Duration]string, v time.Duration, src *nginxconf.Directive, name, key string) {
	if *seen == nil {
		*seen = map[time.Duration]string{}
	}
	if _, ok := (*seen)[v]; !ok {
		(*seen)[v] = src.Where()
		if len(*seen) > 1 {
			t.rep.note(src, "locations of "+name+" set different "+src.Name+"; the agent has one "+key+" per upstream: the largest is used")
		}
	}
	*dst = max(*dst, v)
}

// settleUpstreams keeps the upstreams a route uses, in the order they
// were declared or made.
func (t *translator) settleUpstreams() {
	for _, u := range t.ups {
		switch {
		case u.used:
			if u.scheme == "http" {
				u.scheme = ""
			}
			t.out.upstreams = append(t.out.upstreams, u)
		case !u.unusable && u.d != nil:
			// An upstream block nothing translated uses.
			t.rep.drop(u.d, Cosmetic, "no translated route uses this upstream")
		}
	}
}
