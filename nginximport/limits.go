package nginximport

import (
	"strconv"
	"strings"
	"time"

	"github.com/edgectl/edgectl/nginxconf"
)

// clientLimits records the client-side timeouts a server applied; the
// agent has one of each (limits:), so the largest written value is kept.
func (t *translator) clientLimits(sc scope) {
	l := &t.out.limits
	for _, k := range []struct {
		name string
		dst  *time.Duration
		from *string
	}{
		{"client_header_timeout", &l.header, &l.headerFrom},
		{"client_body_timeout", &l.body, &l.bodyFrom},
		{"send_timeout", &l.send, &l.sendFrom},
		{"keepalive_timeout", &l.idle, &l.idleFrom},
	} {
		v, d, ok := sc.duration(k.name)
		if !ok {
			continue
		}
		if v == 0 && k.name == "keepalive_timeout" {
			t.rep.drop(d, Cosmetic, "nginx closed every connection after one request; the agent keeps clients' connections open (limits.idle_timeout)")
			continue
		}
		if *k.from != "" && *k.dst != v {
			t.rep.note(d, "servers set different "+k.name+"; the agent has one: the largest is used")
		}
		if v > *k.dst {
			*k.dst, *k.from = v, d.Where()
		}
	}
}

// settleLimits sets limits.max_body from client_max_body_size as the
// proxying locations applied it (nginx's default 1m where none was set).
func (t *translator) settleLimits() {
	var best *sized
	unset, differ := false, false
	for i, m := range t.maxBodies {
		if m.n < 0 {
			unset = true
			continue
		}
		if best != nil && best.n != m.n {
			differ = true
		}
		if best == nil || m.n == 0 || best.n != 0 && m.n > best.n {
			best = &t.maxBodies[i]
		}
	}
	if best == nil {
		return
	}
	if unset && best.n != 0 && best.n < 1<<20 {
		// nginx's default 1m allowed more somewhere.
		best = &sized{n: 1 << 20, d: best.d}
	}
	n := best.n
	t.out.limits.maxBody, t.out.limits.maxBodyFrom = &n, best.d.Where()
	if differ || unset {
		t.rep.note(best.d, "locations allowed different request body sizes; the agent has one limits.max_body: the largest, "+sizeText(n)+", is used")
	}
}

// sizeText prints a byte count as nginx would write it.
func sizeText(n int64) string {
	switch {
	case n == 0:
		return "unlimited"
	case n%(1<<30) == 0:
		return strconv.FormatInt(n>>30, 10) + "g"
	case n%(1<<20) == 0:
		return strconv.FormatInt(n>>20, 10) + "m"
	case n%(1<<10) == 0:
		return strconv.FormatInt(n>>10, 10) + "k"
	}
	return strconv.FormatInt(n, 10)
}

// standardHeaders are the proxy_set_header fields the agent sets itself,
// with the values that mean what it sends.
var standardHeaders = map[string][]string{
	"host":              {"$host", "$http_host", "$proxy_host", "$host:$server_port", "$http_host:$server_port"},
	"x-real-ip":         {"$remote_addr"},
	"x-forwarded-for":   {"$proxy_add_x_forwarded_for", "$remote_addr"},
	"x-forwarded-proto": {"$scheme"},
	"x-forwarded-host":  {"$host", "$http_host", "$server_name"},
	"upgrade":           {"$http_upgrade"},
	"connection":        {"$connection_upgrade", "upgrade", "$http_connection", "", "keep-alive", "close"},
}

// header judges one proxy_set_header: the fields the agent sets itself
// need nothing; any other field is one the backend would no longer get.
func (t *translator) header(d *nginxconf.Directive, tls bool) {
	name, val := strings.ToLower(d.Arg(0)), d.Arg(1)
	for _, v := range standardHeaders[name] {
		if strings.EqualFold(v, val) {
			return
		}
	}
	if name == "x-forwarded-proto" && (val == "https" && tls || val == "http" && !tls) {
		return
	}
	if name == "host" {
		t.rep.drop(d, Important, "the backend got Host: "+val+"; the agent passes the client's Host (and X-Forwarded-Host)")
		return
	}
	t.rep.drop(d, Important, "the backend no longer gets "+d.Arg(0)+": "+val+"; the agent sets only Host (the client's), X-Forwarded-For, -Proto, -Host and X-Real-IP")
}
