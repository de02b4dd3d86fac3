package nginximport

import (
	"net/netip"
	"slices"
	"strings"

	"github.com/edgectl/edgectl/nginxconf"
)

// serverInfo is one http server block as translated.
type serverInfo struct {
	d        *nginxconf.Directive
	listens  []listenInfo
	names    []string // server_name as written
	hosts    []string // route hosts ("" = any host)
	catchAll bool     // no name, or "_"
	tls      bool     // has a TLS listener
	plain    bool     // has a plain-HTTP listener
	skip     bool     // nothing of it is translated (loopback only)
	// redirect is the directive sending every plain-HTTP request of the
	// server to https; redirectHosts are names certbot's if ($host = …)
	// sends there.
	redirect      *nginxconf.Directive
	redirectHosts map[string]*nginxconf.Directive
	routes        []route // its locations' routes (paths and upstreams)
	static        bool
}

// route is a location's route before hosts are applied.
type route struct {
	path string
	up   *upstreamOut
	d    *nginxconf.Directive // the proxy_pass
}

// server translates one http server block.
func (t *translator) server(srv *nginxconf.Directive, parent scope) {
	s := &serverInfo{d: srv, redirectHosts: map[string]*nginxconf.Directive{}}
	t.servers = append(t.servers, s)
	sc := parent.child(srv.Block)
	listens := nginxconf.Find(srv.Block, "listen")
	if len(listens) == 0 {
		s.listens = []listenInfo{{port: "80", d: srv}}
	}
	for _, d := range listens {
		if l, ok := t.parseListen(d); ok {
			s.listens = append(s.listens, l)
		}
	}
	if len(s.listens) == 0 {
		s.skip = true
		return
	}
	loop := true
	for _, l := range s.listens {
		s.tls = s.tls || l.tls
		s.plain = s.plain || !l.tls
		loop = loop && l.loopback()
	}
	if loop {
		s.skip = true
		t.rep.drop(s.listens[0].d, Important, "a server on loopback only; the agent routes every listener alike, so its locations would become public: not translated")
		return
	}
	for _, d := range nginxconf.Find(srv.Block, "server_name") {
		s.names = append(s.names, d.Args...)
	}
	t.serverNames(s)
	if nginxconf.Find(srv.Block, "ssl") != nil && nginxconf.Find(srv.Block, "ssl")[0].Arg(0) == "on" {
		s.tls, s.plain = true, false
		for i := range s.listens {
			s.listens[i].tls = true
		}
	}
	t.certificates(s, srv, parent)
	for _, d := range srv.Block {
		switch d.Name {
		case "listen", "server_name", "ssl_certificate", "ssl_certificate_key", "ssl":
		case "location":
			t.location(s, d, sc)
		case "return":
			t.serverReturn(s, d)
		case "rewrite":
			if t.isRedirect(s, d) {
				if s.plain {
					s.redirect = d
				}
				continue
			}
			t.rewrite(d)
		case "if":
			t.serverIf(s, d)
		case "proxy_set_header":
			t.header(d, s.tls)
		case "proxy_connect_timeout", "proxy_read_timeout", "client_max_body_size", "proxy_ssl_name",
			"proxy_ssl_trusted_certificate", "proxy_ssl_verify", "proxy_next_upstream_tries", "root", "index",
			"keepalive_timeout", "client_header_timeout", "client_body_timeout", "send_timeout", "proxy_ssl_server_name":
		case "try_files":
			// judged with the locations (a server without locations serves files)
		default:
			t.other(d, true)
		}
	}
	t.clientLimits(sc)
	if len(nginxconf.Find(srv.Block, "location")) == 0 && s.redirect == nil && !s.hasReturn() {
		t.static(s, srv, sc, "/")
	}
	t.addRoutes(s)
}

// hasReturn reports whether the server block itself ends every request.
func (s *serverInfo) hasReturn() bool {
	return nginxconf.Find(s.d.Block, "return") != nil
}

// serverNames turns server_name into route hosts.
func (t *translator) serverNames(s *serverInfo) {
	s.catchAll = true
	add := func(h string) {
		if !slices.Contains(s.hosts, h) {
			s.hosts = append(s.hosts, h)
		}
	}
	var d *nginxconf.Directive
	if ds := nginxconf.Find(s.d.Block, "server_name"); ds != nil {
		d = ds[0]
	}
	for _, n := range s.names {
		n = strings.ToLower(n)
		switch {
		case n == "" || n == "_":
			continue
		case strings.HasPrefix(n, "~"):
			t.rep.drop(d, Important, "a regular-expression name ("+n+"); the agent matches exact names and *.domain: list the names instead")
		case strings.HasSuffix(n, ".*") || strings.Contains(n, "$"):
			t.rep.drop(d, Important, "the name "+n+" has no agent equivalent; list the names instead")
		case strings.HasPrefix(n, "."):
			add(n[1:])
			add("*" + n)
		default:
			if _, err := netip.ParseAddr(strings.Trim(n, "[]")); err == nil {
				t.rep.note(d, "the name "+n+" is an IP address: its requests are routed as any host's")
				add("")
				continue
			}
			if strings.Contains(strings.TrimPrefix(n, "*."), "*") {
				t.rep.drop(d, Important, "the name "+n+" has no agent equivalent; list the names instead")
				continue
			}
			add(n)
		}
		s.catchAll = false
	}
	if s.catchAll {
		s.hosts = []string{""}
	}
}

// certificates records ssl_certificate and its key.
func (t *translator) certificates(s *serverInfo, srv *nginxconf.Directive, parent scope) {
	certs := nginxconf.Find(srv.Block, "ssl_certificate")
	keys := nginxconf.Find(srv.Block, "ssl_certificate_key")
	if len(certs) == 0 && s.tls && parent["ssl_certificate"] != nil {
		// Set once for every server, in http.
		certs = []*nginxconf.Directive{parent["ssl_certificate"]}
		keys = []*nginxconf.Directive{parent["ssl_certificate_key"]}
	}
	for i, c := range certs {
		key := ""
		if i < len(keys) && keys[i] != nil {
			key = keys[i].Arg(0)
		}
		var names []string
		for _, h := range s.hosts {
			if h != "" {
				names = append(names, h)
			}
		}
		t.certs = append(t.certs, Certificate{Names: names, Cert: c.Arg(0), Key: key, File: c.File, Line: c.Line})
		t.rep.note(c, "the agent serves certificates from tls.certs_dir/<name>/ (chosen by SNI); edgectl cert import copies this one there")
	}
}

// serverReturn handles a return at server level: a redirect to https, or
// an answer to every request.
func (t *translator) serverReturn(s *serverInfo, d *nginxconf.Directive) {
	switch t.redirectKind(s, d) {
	case redirectSame:
		if s.plain {
			s.redirect = d
		} else {
			t.rep.drop(d, Important, "redirects HTTPS requests to https again; the agent does not")
		}
	case redirectOther:
		t.rep.drop(d, Important, "redirects to another name; the agent does not redirect between names (do it in the backend)")
	default:
		if s.catchAll || len(s.redirectHosts) > 0 {
			t.rep.drop(d, Cosmetic, "requests for names no route lists got this answer; the agent answers them 404")
			return
		}
		t.rep.drop(d, Important, "every request to this server got this answer; the agent routes them instead")
	}
}

// serverIf recognises certbot's "if ($host = NAME) { return 301 https://… }"
// and "if ($scheme != https) { return 301 https://… }".
func (t *translator) serverIf(s *serverInfo, d *nginxconf.Directive) {
	if len(d.Block) == 1 && d.Block[0].Name == "return" && t.redirectKind(s, d.Block[0]) == redirectSame {
		cond := strings.Join(d.Args, " ")
		cond = strings.NewReplacer("(", "", ")", "", `"`, "", "'", "").Replace(cond)
		switch f := strings.Fields(cond); {
		case len(f) == 3 && f[0] == "$host" && f[1] == "=":
			if s.plain {
				s.redirectHosts[strings.ToLower(f[2])] = d
			}
			return
		case len(f) == 3 && f[0] == "$scheme" && (f[1] == "=" && f[2] == "http" || f[1] == "!=" && f[2] == "https"):
			if s.plain {
				s.redirect = d
			}
			return
		}
	}
	t.rep.drop(d, Important, "a condition; the agent has none: requests that matched it are routed like the others")
}

// redirect kinds.
const (
	notRedirect = iota
	redirectSame
	redirectOther
)

// redirectKind tells whether a return redirects to https on the same
// name with the same path ($host$request_uri and its spellings).
func (t *translator) redirectKind(s *serverInfo, d *nginxconf.Directive) int {
	target := d.Arg(0)
	switch d.Arg(0) {
	case "301", "302", "303", "307", "308":
		target = d.Arg(1)
	}
	return s.redirectTarget(target, "$request_uri")
}

// redirectTarget classifies an https URL whose path part is one of paths.
func (s *serverInfo) redirectTarget(target string, paths ...string) int {
	rest, ok := strings.CutPrefix(target, "https://")
	if !ok {
		return notRedirect
	}
	path := ""
	for _, p := range paths {
		if i := strings.Index(rest, p); i > 0 && i+len(p) == len(rest) {
			rest, path = rest[:i], p
			break
		}
	}
	if path == "" {
		return notRedirect
	}
	rest = strings.TrimSuffix(rest, ":443")
	switch rest {
	case "$host", "$server_name", "$http_host":
		return redirectSame
	}
	if slices.Contains(s.hosts, strings.ToLower(rest)) {
		return redirectSame
	}
	return redirectOther
}

// isRedirect recognises "rewrite ^ https://$host$request_uri? permanent"
// and "rewrite ^(.*)$ https://$host$1 permanent".
func (t *translator) isRedirect(s *serverInfo, d *nginxconf.Directive) bool {
	if len(d.Args) != 3 || d.Args[2] != "permanent" && d.Args[2] != "redirect" {
		return false
	}
	switch d.Args[0] {
	case "^", "^(.*)$", "^(.*)", "(.*)", "^/(.*)$", "^/(.*)", "^/":
	default:
		return false
	}
	return s.redirectTarget(d.Args[1], "$request_uri?", "$request_uri", "/$1", "$1") == redirectSame
}
