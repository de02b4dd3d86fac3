package nginximport

import (
	"errors"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/edgectl/edgectl/nginxconf"
)

// Options tune a translation.
type Options struct {
	// Source says where the configuration came from, for the header of
	// agent.yaml: "nginx -T on cn2-sh".
	Source string
}

// translator holds a translation in progress.
type translator struct {
	rep   report
	out   model
	certs []Certificate
	// upstream blocks by name, and upstreams made for proxy_pass to an
	// address, by scheme and address
	blocks  map[string]*upstreamOut
	literal map[string]*upstreamOut
	names   map[string]bool // every upstream name given out
	ups     []*upstreamOut  // every upstream, in the order made
	servers []*serverInfo
	exact   []exactLoc
	routeAt map[string]int // index of t.out.routes by host and path
	// maxBody and the client timeouts, as nginx applied them
	maxBodies []sized
}

type sized struct {
	n int64
	d *nginxconf.Directive
}

// Translate turns a parsed nginx -T dump into agent.yaml and the list of
// what it could not translate.
func Translate(cfg *nginxconf.Config, opts Options) (*Result, error) {
	if cfg == nil {
		return nil, errors.New("no nginx configuration")
	}
	t := &translator{blocks: map[string]*upstreamOut{}, literal: map[string]*upstreamOut{}, names: map[string]bool{}}
	seenHTTP := false
	for _, d := range cfg.Main {
		switch d.Name {
		case "http":
			seenHTTP = true
			t.http(d)
		case "stream":
			t.stream(d)
		default:
			t.other(d, false)
		}
	}
	if !seenHTTP && len(t.out.streams) == 0 {
		return nil, errors.New("the configuration has no http or stream block; is this the output of nginx -T?")
	}
	t.finish()
	res := &Result{Untranslated: t.rep.items, Notes: t.rep.notes, Certificates: t.certs, Files: cfg.Files}
	sortByFile(cfg.Files, res)
	if res.Untranslated == nil {
		res.Untranslated = []Item{}
	}
	if res.Notes == nil {
		res.Notes = []Note{}
	}
	if res.Certificates == nil {
		res.Certificates = []Certificate{}
	}
	var err error
	res.YAML, err = render(&t.out, res, opts)
	return res, err
}

// other applies the rules table to a directive nothing else handled.
func (t *translator) other(d *nginxconf.Directive, inServer bool) {
	if len(d.Args) == 1 && d.Args[0] == "off" && d.Block == nil {
		return // gzip off, access_log off, auth_basic off, proxy_cache off: nothing is lost
	}
	if r := ruleFor(d.Name, inServer); r.imp != "" {
		t.rep.drop(d, r.imp, r.reason)
	}
}

// scope carries the directives a block inherits from the blocks around it.
type scope map[string]*nginxconf.Directive

// inherited are the single-valued directives whose effective value the
// translation needs at each location.
var inherited = []string{
	"proxy_connect_timeout", "proxy_read_timeout", "client_max_body_size", "proxy_ssl_name",
	"proxy_ssl_trusted_certificate", "proxy_ssl_verify", "proxy_next_upstream_tries", "root",
	"keepalive_timeout", "client_header_timeout", "client_body_timeout", "send_timeout",
	"ssl_certificate", "ssl_certificate_key",
}

// child is the scope inside block.
func (s scope) child(block []*nginxconf.Directive) scope {
	c := scope{}
	for k, v := range s {
		c[k] = v
	}
	for _, d := range block {
		for _, n := range inherited {
			if d.Name == n {
				c[n] = d
			}
		}
	}
	return c
}

// duration is an inherited time value, ok false when unset or invalid.
func (s scope) duration(name string) (time.Duration, *nginxconf.Directive, bool) {
	d := s[name]
	if d == nil {
		return 0, nil, false
	}
	v, ok := nginxconf.ParseDuration(d.Arg(0))
	return v, d, ok
}

// http translates the http block.
func (t *translator) http(h *nginxconf.Directive) {
	for _, d := range nginxconf.Find(h.Block, "upstream") {
		t.upstreamBlock(d)
	}
	sc := scope{}.child(h.Block)
	for _, d := range h.Block {
		switch d.Name {
		case "upstream", "server":
		case "map":
			t.mapBlock(d)
		case "proxy_set_header":
			t.header(d, false)
		case "proxy_connect_timeout", "proxy_read_timeout", "client_max_body_size", "proxy_ssl_name",
			"proxy_ssl_trusted_certificate", "proxy_ssl_verify", "proxy_next_upstream_tries", "root", "index",
			"keepalive_timeout", "client_header_timeout", "client_body_timeout", "send_timeout", "proxy_ssl_server_name",
			"ssl_certificate", "ssl_certificate_key":
			// used where a server or location needs them
		case "proxy_pass":
		default:
			t.other(d, false)
		}
	}
	for _, srv := range nginxconf.Find(h.Block, "server") {
		t.server(srv, sc)
	}
}

// mapBlock notes the WebSocket map; other maps only feed directives that
// are listed on their own.
func (t *translator) mapBlock(d *nginxconf.Directive) {
	if d.Arg(0) == "$http_upgrade" {
		t.rep.note(d, "the WebSocket map: the agent passes Upgrade requests (WebSocket) to the upstream by itself; nothing needed")
		return
	}
	t.rep.drop(d, Cosmetic, "a variable; it matters only to directives listed here")
}

// finish settles what depends on every server: the redirect, any-host
// routes of default servers, limits, upstream details and the order.
func (t *translator) finish() {
	t.defaultRoutes()
	t.judgeExact()
	t.redirects()
	t.checkStreams()
	t.settleLimits()
	t.settleUpstreams()
}

// checkStreams drops streams on an address an HTTP listener has.
func (t *translator) checkStreams() {
	taken := map[string]bool{}
	for _, l := range t.out.listeners {
		taken[l.addr] = true
	}
	if len(t.out.listeners) == 0 {
		taken["[::]:80"] = true // the agent's default listener
	}
	var keep []streamOut
	for _, s := range t.out.streams {
		if taken[s.listen] {
			t.rep.drop(&nginxconf.Directive{Name: "listen", Args: []string{s.listen}, File: fileOf(s.from), Line: lineOf(s.from)}, Important,
				"a stream on a port the HTTP listeners use too; give it a port of its own")
			continue
		}
		taken[s.listen] = true
		keep = append(keep, s)
	}
	t.out.streams = keep
}

// sortByFile orders items and notes as nginx printed the files, then by
// line.
func sortByFile(files []string, res *Result) {
	rank := map[string]int{}
	for i, f := range files {
		rank[f] = i
	}
	less := func(f1 string, l1 int, f2 string, l2 int) bool {
		if rank[f1] != rank[f2] {
			return rank[f1] < rank[f2]
		}
		return l1 < l2
	}
	sort.SliceStable(res.Untranslated, func(i, j int) bool {
		a, b := res.Untranslated[i], res.Untranslated[j]
		return less(a.File, a.Line, b.File, b.Line)
	})
	sort.SliceStable(res.Notes, func(i, j int) bool {
		a, b := res.Notes[i], res.Notes[j]
		return less(a.File, a.Line, b.File, b.Line)
	})
}

// oneLine makes text safe for a YAML comment.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}

// fileOf and lineOf split "FILE:LINE".
func fileOf(where string) string {
	i := strings.LastIndexByte(where, ':')
	if i < 0 {
		return where
	}
	return where[:i]
}

func lineOf(where string) int {
	i := strings.LastIndexByte(where, ':')
	n, _ := strconv.Atoi(where[i+1:])
	return n
}
