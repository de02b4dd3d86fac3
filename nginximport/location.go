package nginximport

import (
	"path"
	"slices"
	"strings"

	"github.com/edgectl/edgectl/nginxconf"
)

// acmePath is where ACME HTTP-01 tokens are served.
const acmePath = "/.well-known/acme-challenge/"

// content handlers: a location with one of them does not serve files.
var handlers = []string{"proxy_pass", "return", "fastcgi_pass", "uwsgi_pass", "scgi_pass", "grpc_pass",
	"memcached_pass", "stub_status", "empty_gif", "js_content", "perl", "content_by_lua_block", "content_by_lua", "if"}

// location translates a location block and the ones nested in it.
func (t *translator) location(s *serverInfo, loc *nginxconf.Directive, parent scope) {
	var prefix string
	switch {
	case len(loc.Args) == 1 && strings.HasPrefix(loc.Args[0], "@"):
		t.rep.drop(loc, Cosmetic, "a named location, used by nginx's error_page or try_files")
		return
	case len(loc.Args) == 1:
		prefix = loc.Args[0]
	case len(loc.Args) == 2 && loc.Args[0] == "^~":
		prefix = loc.Args[1]
	case len(loc.Args) == 2 && loc.Args[0] == "=":
		t.exactLocation(s, loc, parent)
		return
	case len(loc.Args) == 2 && (loc.Args[0] == "~" || loc.Args[0] == "~*"):
		t.rep.drop(loc, Important, "a regular-expression location; the agent routes by path prefix, so these requests follow the prefix routes")
		return
	default:
		t.rep.drop(loc, Important, "a location the importer does not understand")
		return
	}
	if !strings.HasPrefix(prefix, "/") {
		t.rep.drop(loc, Important, "a location that does not start with /")
		return
	}
	if prefix == acmePath || prefix == strings.TrimSuffix(acmePath, "/") {
		t.rep.drop(loc, Cosmetic, "ACME challenges: the agent serves /.well-known/acme-challenge/ from acme_challenge_dir (edgectl cert); renewals by certbot or acme.sh through this directory stop working (edgectl cert import lists them)")
		return
	}
	sc := parent.child(loc.Block)
	handled := false
	for _, d := range loc.Block {
		if slices.Contains(handlers, d.Name) {
			handled = true
		}
		switch d.Name {
		case "proxy_pass":
			t.proxyPass(s, prefix, d, sc)
		case "location":
			t.location(s, d, sc)
		case "return":
			if prefix == "/" && s.plain && t.redirectKind(s, d) == redirectSame {
				s.redirect = d
				continue
			}
			t.rep.drop(d, Important, "requests under "+prefix+" got this answer from nginx; the agent routes them to the upstream of the longest matching prefix")
		case "rewrite":
			if prefix == "/" && s.plain && t.isRedirect(s, d) {
				s.redirect = d
				continue
			}
			t.rewrite(d)
		case "if":
			t.rep.drop(d, Important, "a condition; the agent has none: requests that matched it are routed like the others")
		case "proxy_set_header":
			t.header(d, s.tls)
		case "proxy_connect_timeout", "proxy_read_timeout", "client_max_body_size", "proxy_ssl_name",
			"proxy_ssl_trusted_certificate", "proxy_ssl_verify", "proxy_next_upstream_tries", "root", "alias", "index",
			"try_files", "proxy_ssl_server_name", "proxy_redirect":
			if d.Name == "proxy_redirect" && d.Arg(0) != "off" && d.Arg(0) != "default" {
				t.rep.drop(d, Important, "Location headers from the backend were rewritten; the agent passes them unchanged")
			}
		default:
			t.other(d, true)
		}
	}
	if !handled {
		t.static(s, loc, sc, prefix)
	}
}

// exactLocation reports an "= /path" location: cosmetic when the agent
// gives that path the same answer anyway, important otherwise.
func (t *translator) exactLocation(s *serverInfo, loc *nginxconf.Directive, sc scope) {
	p := loc.Args[1]
	var pp, ret *nginxconf.Directive
	for _, d := range loc.Block {
		switch d.Name {
		case "proxy_pass":
			pp = d
		case "return":
			ret = d
		}
	}
	switch {
	case nginxconf.Find(loc.Block, "internal") != nil:
		t.rep.drop(loc, Cosmetic, "a location only for nginx's internal redirects (error pages)")
	case ret != nil && p == "/health" && ret.Arg(0) == "200":
		t.rep.drop(loc, Cosmetic, "a health answer from nginx itself; the agent answers its health_path (/health) itself")
	case pp != nil:
		// Judged once every route is known: see judgeExact.
		t.exact = append(t.exact, exactLoc{s: s, loc: loc, pp: pp, sc: sc})
	case ret == nil && (p == "/favicon.ico" || p == "/robots.txt"):
		t.rep.drop(loc, Cosmetic, "a static file; the agent serves no files (the backend's answer is used)")
	default:
		t.rep.drop(loc, Important, "an exact-match location; the agent routes by path prefix, so "+p+" follows the prefix routes")
	}
}

// exactLoc is an exact location that proxies, judged at the end.
type exactLoc struct {
	s   *serverInfo
	loc *nginxconf.Directive
	pp  *nginxconf.Directive
	sc  scope
}

// judgeExact: an exact location proxying to the upstream the prefix
// routes would pick, with the path unchanged, loses nothing.
func (t *translator) judgeExact() {
	for _, e := range t.exact {
		p := e.loc.Args[1]
		up, uri, ok := t.target(e.pp, e.sc, false)
		same := ok && (uri == "" || uri == p)
		if same {
			for _, h := range e.s.hosts {
				if r := t.match(h, p); r == nil || r.upstream != up.name {
					same = false
				}
			}
		}
		if same {
			t.rep.drop(e.loc, Cosmetic, "an exact-match location; the agent's prefix routes send "+p+" to the same upstream")
			continue
		}
		t.rep.drop(e.loc, Important, "an exact-match location; the agent routes by path prefix, so "+p+" follows the prefix routes")
	}
}

// match is the agent's route choice for host and path (exact host, then
// *.domain, then any host; longest prefix), nil when none matches.
func (t *translator) match(host, p string) *routeOut {
	var best *routeOut
	rank := func(r *routeOut) int {
		switch {
		case r.host == "":
			return 0
		case strings.HasPrefix(r.host, "*."):
			return 1
		}
		return 2
	}
	for i := range t.out.routes {
		r := &t.out.routes[i]
		hostOK := r.host == "" || r.host == host || strings.HasPrefix(r.host, "*.") && strings.HasSuffix(host, r.host[1:])
		if !hostOK || !strings.HasPrefix(p, r.path) {
			continue
		}
		if best == nil || rank(r) > rank(best) || rank(r) == rank(best) && len(r.path) > len(best.path) {
			best = r
		}
	}
	return best
}

// static reports a location (or a server without locations) that serves
// files. nginx's default page on a catch-all server is cosmetic.
func (t *translator) static(s *serverInfo, d *nginxconf.Directive, sc scope, prefix string) {
	s.static = true
	root := "html"
	if r := sc["root"]; r != nil {
		root = r.Arg(0)
	}
	if a := nginxconf.Find(d.Block, "alias"); a != nil {
		root = a[0].Arg(0)
	}
	if s.catchAll && prefix == "/" && (root == "html" || path.Clean(root) == "/var/www/html" || path.Clean(root) == "/usr/share/nginx/html") {
		t.rep.drop(d, Cosmetic, "nginx's default page from "+root+"; the agent serves no files, and requests no route takes get 404")
		return
	}
	t.rep.drop(d, Important, "serves files from "+root+"; the agent serves no files (put them behind a backend, or keep a file server behind the agent)")
}

// rewrite reports a rewrite: a redirect to the client, or a new path for
// the backend.
func (t *translator) rewrite(d *nginxconf.Directive) {
	if f := d.Arg(2); f == "permanent" || f == "redirect" || strings.HasPrefix(d.Arg(1), "http://") || strings.HasPrefix(d.Arg(1), "https://") {
		t.rep.drop(d, Important, "clients were redirected to "+d.Arg(1)+"; the agent does not redirect: do it in the backend")
		return
	}
	t.rep.drop(d, Important, "paths are rewritten before proxying; the agent forwards the path unchanged")
}
