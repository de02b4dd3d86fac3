package nginximport

import (
	"slices"
	"strings"

	"github.com/edgectl/edgectl/nginxconf"
)

// proxyPass translates a location's proxy_pass into a route.
func (t *translator) proxyPass(s *serverInfo, prefix string, d *nginxconf.Directive, sc scope) {
	up, uri, ok := t.target(d, sc, true)
	if !ok {
		return
	}
	if uri != "" && uri != prefix {
		t.rep.drop(d, Important, "nginx replaced the location's "+prefix+" with "+uri+" before proxying; the agent forwards the path unchanged ("+prefix+"x stays "+prefix+"x): change the backend's paths or the location")
	}
	s.routes = append(s.routes, route{path: prefix, up: up, d: d})
	if mb := sc["client_max_body_size"]; mb != nil {
		if n, ok := nginxconf.ParseSize(mb.Arg(0)); ok {
			t.maxBodies = append(t.maxBodies, sized{n: n, d: mb})
		}
	} else {
		t.maxBodies = append(t.maxBodies, sized{n: -1})
	}
}

// addRoutes adds a server's routes for each of its hosts, after its
// locations are read.
func (t *translator) addRoutes(s *serverInfo) {
	for _, h := range s.hosts {
		for _, r := range s.routes {
			t.addRoute(s, h, r, "")
		}
	}
}

// addRoute adds one route unless the host and path are routed already:
// the same upstream is a duplicate (nginx's port 80 and 443 servers of
// one name), another one a conflict the agent cannot keep.
func (t *translator) addRoute(s *serverInfo, host string, r route, why string) {
	if t.routeAt == nil {
		t.routeAt = map[string]int{}
	}
	key := host + " " + r.path
	if i, ok := t.routeAt[key]; ok {
		o := t.out.routes[i]
		if o.upstream != r.up.name {
			h := host
			if h == "" {
				h = "any host"
			}
			t.rep.drop(r.d, Important, "path "+r.path+" of "+h+" is already routed to "+o.upstream+" ("+o.from+")"+why+"; the agent routes every port alike, so this route is left out")
		}
		return
	}
	t.routeAt[key] = len(t.out.routes)
	t.out.routes = append(t.out.routes, routeOut{host: host, path: r.path, upstream: r.up.name, from: r.d.Where(), owner: s})
}

// defaultRoutes makes the routes of each port's default server (the one
// marked default_server, else the first) answer any host too, as nginx
// sends it every request whose name no server lists (a bare IP included).
// When one server gives every any-host route, its routes are written once,
// for any host, instead of once per name and once more for any host.
func (t *translator) defaultRoutes() {
	seen := map[string]bool{}
	var defaults []*serverInfo
	for pass := 0; pass < 2; pass++ {
		for _, s := range t.servers {
			if s.skip {
				continue
			}
			for _, l := range s.listens {
				if seen[l.port] || pass == 0 && !l.def {
					continue
				}
				seen[l.port] = true
				if !slices.Contains(defaults, s) {
					defaults = append(defaults, s)
				}
			}
		}
	}
	for _, s := range defaults {
		if s.catchAll || len(s.routes) == 0 {
			continue
		}
		for _, r := range s.routes {
			t.addRoute(s, "", r, " by the default server of another port")
		}
		t.rep.note(s.d, "the default server of its port: nginx gave it the requests for names no server lists (a bare IP included), so its routes answer any host")
	}
	var owner *serverInfo
	for _, r := range t.out.routes {
		if r.host != "" {
			continue
		}
		if owner != nil && r.owner != owner {
			return
		}
		owner = r.owner
	}
	if owner == nil || owner.catchAll {
		return
	}
	keep := t.out.routes[:0]
	for _, r := range t.out.routes {
		if r.owner != owner || r.host == "" {
			keep = append(keep, r)
		}
	}
	t.out.routes = keep
	t.routeAt = map[string]int{}
	for i, r := range keep {
		t.routeAt[r.host+" "+r.path] = i
	}
}

// redirects settles tls.redirect_http, which the agent applies to every
// plain-HTTP request or none.
func (t *translator) redirects() {
	t.buildListeners()
	hasTLS, hasPlain := false, false
	for _, l := range t.out.listeners {
		hasTLS = hasTLS || l.tls
		hasPlain = hasPlain || !l.tls
	}
	var redirecting []*nginxconf.Directive
	servesPlain := false
	for _, s := range t.servers {
		if s.skip || !s.plain {
			continue
		}
		if s.redirect != nil {
			redirecting = append(redirecting, s.redirect)
			continue
		}
		for _, d := range s.redirectHosts {
			redirecting = append(redirecting, d)
		}
		if len(s.routes) > 0 {
			for _, h := range s.hosts {
				if _, ok := s.redirectHosts[h]; !ok {
					servesPlain = true
				}
			}
		}
	}
	slices.SortFunc(redirecting, func(a, b *nginxconf.Directive) int {
		return strings.Compare(a.Where(), b.Where())
	})
	switch {
	case !hasTLS:
		for _, d := range redirecting {
			t.rep.drop(d, Important, "nginx redirected to https but has no TLS listener (TLS ends in front of it?); the agent does not redirect without one")
		}
	case len(redirecting) > 0 && !servesPlain:
		on := true
		t.out.redirect = &on
		t.rep.note(redirecting[0], "tls.redirect_http: true: every plain-HTTP request is redirected to https (with 308, which keeps the method; nginx sent "+redirectCode(redirecting[0])+")")
	case len(redirecting) > 0:
		off := false
		t.out.redirect = &off
		for _, d := range redirecting {
			t.rep.drop(d, Important, "the agent redirects every plain-HTTP request or none (tls.redirect_http); nginx redirected some names and served others over HTTP, so redirect_http is false and these names are served over HTTP too")
		}
	case hasPlain:
		off := false
		t.out.redirect = &off
	}
}

// redirectCode is the status a redirect used.
func redirectCode(d *nginxconf.Directive) string {
	if d.Name == "if" && len(d.Block) > 0 {
		d = d.Block[0]
	}
	switch {
	case d.Name == "rewrite" && d.Arg(2) == "redirect":
		return "302"
	case d.Name == "rewrite":
		return "301"
	case d.Name == "return" && len(d.Args) == 1:
		return "302"
	}
	return d.Arg(0)
}
