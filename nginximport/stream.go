package nginximport

import (
	"net"
	"slices"

	"github.com/edgectl/edgectl/nginxconf"
)

// stream translates stream servers with proxy_pass into streams.
func (t *translator) stream(st *nginxconf.Directive) {
	// stream has upstream names of its own.
	httpBlocks := t.blocks
	t.blocks = map[string]*upstreamOut{}
	defer func() { t.blocks = httpBlocks }()
	for _, d := range nginxconf.Find(st.Block, "upstream") {
		t.upstreamBlock(d)
	}
	for _, d := range st.Block {
		switch d.Name {
		case "upstream":
		case "server":
			t.streamServer(d)
		default:
			t.other(d, false)
		}
	}
}

func (t *translator) streamServer(srv *nginxconf.Directive) {
	var listens []listenInfo
	var pp *nginxconf.Directive
	for _, d := range srv.Block {
		switch d.Name {
		case "listen":
			if slices.Contains(d.Args, "udp") {
				t.rep.drop(d, Important, "UDP; the agent proxies TCP streams only")
				continue
			}
			if l, ok := t.parseListen(d); ok {
				if l.tls {
					t.rep.drop(d, Important, "TLS ended by nginx in front of a TCP stream; the agent passes streams through as they are")
				}
				listens = append(listens, l)
			}
		case "proxy_pass":
			pp = d
		case "proxy_connect_timeout", "proxy_timeout", "proxy_buffer_size", "tcp_nodelay", "proxy_socket_keepalive":
		case "ssl_preread":
			t.rep.drop(d, Important, "routing by TLS server name (SNI) without ending TLS; the agent's streams go to one upstream per port")
		default:
			t.other(d, true)
		}
	}
	if pp == nil || len(listens) == 0 {
		return
	}
	up, _, ok := t.target(&nginxconf.Directive{Name: pp.Name, Args: []string{"http://" + pp.Arg(0)}, File: pp.File, Line: pp.Line}, scope{}, true)
	if !ok {
		return
	}
	seen := map[string]bool{}
	for _, l := range listens {
		addr := net.JoinHostPort("::", l.port)
		if !l.wildcard() {
			addr = net.JoinHostPort(l.host, l.port)
		}
		if seen[addr] {
			continue
		}
		seen[addr] = true
		t.out.streams = append(t.out.streams, streamOut{listen: addr, upstream: up.name, from: l.d.Where()})
	}
}
