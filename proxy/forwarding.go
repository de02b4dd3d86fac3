package proxy

import "strconv"

// appendRequestHead renders the request head for the upstream. The agent
// writes the framing itself from what it parsed (Transfer-Encoding: chunked
// or Content-Length), never the client's fields; hop-by-hop fields and
// fields named in Connection are removed (except protected ones, which
// cannot be named there), and the forwarding fields are written by
// appendForwarding.
func (cc *clientConn) appendRequestHead(b []byte, p *Peer) []byte {
	r := &cc.req
	b = append(b, r.method...)
	b = append(b, ' ')
	b = append(b, r.target...)
	b = append(b, " HTTP/1.1\r\n"...)
	for _, f := range r.headers {
		if r.hopByHop(f.key) || forwardingField(f.key) ||
			(len(f.key) == 14 && asciiEqualFold(f.key, "content-length")) {
			continue
		}
		b = append(b, f.key...)
		b = append(b, ": "...)
		b = append(b, f.value...)
		b = append(b, "\r\n"...)
	}
	if r.host == nil {
		b = append(b, "Host: "...)
		b = append(b, p.Addr...)
		b = append(b, "\r\n"...)
	}
	b = cc.appendForwarding(b)
	switch {
	case r.chunked:
		b = append(b, "Transfer-Encoding: chunked\r\n"...)
	case r.contentLength >= 0:
		b = append(b, "Content-Length: "...)
		b = strconv.AppendInt(b, r.contentLength, 10)
		b = append(b, "\r\n"...)
	}
	if r.upgradeRequested() {
		b = append(b, "Connection: Upgrade\r\nUpgrade: "...)
		b = append(b, r.upgrade...)
		b = append(b, "\r\n"...)
	}
	return append(b, "\r\n"...)
}

// upgradeRequested reports whether the request asks for a protocol switch
// the agent passes on: any but h2c. An h2c upgrade through a proxy would
// let a client speak HTTP/2 to the server past every rule the proxy applies
// to requests ("h2c smuggling"); such a request goes on as plain HTTP/1.1
// without Upgrade (its HTTP2-Settings, named in Connection, is dropped).
func (h *head) upgradeRequested() bool {
	return h.connUpgrade && h.upgrade != nil && !asciiEqualFold(h.upgrade, "h2c")
}

// appendForwarding writes X-Forwarded-For, X-Real-IP, X-Forwarded-Proto,
// X-Forwarded-Host and Forwarded. From a client outside trusted_proxies
// they say what the agent saw (the peer address, the scheme of the
// listener, the Host) whatever the client sent: a client cannot make the
// server believe it comes from elsewhere. From a trusted proxy the values
// it sent are kept, and the peer is appended to X-Forwarded-For and
// Forwarded (nginx's $proxy_add_x_forwarded_for behind set_real_ip_from).
func (cc *clientConn) appendForwarding(b []byte) []byte {
	r := &cc.req
	trusted := cc.lim != nil && cc.lim.trusts(cc.peer)
	proto := "http"
	if cc.tls {
		proto = "https"
	}

	b = append(b, "X-Forwarded-For: "...)
	if trusted {
		b = appendFieldList(b, r, "x-forwarded-for", ", ")
	}
	b = append(b, cc.remote...)
	b = append(b, "\r\n"...)

	b = append(b, "X-Real-IP: "...)
	if v := trustedValue(r, trusted, "x-real-ip"); v != nil {
		b = append(b, v...)
	} else {
		b = append(b, cc.remote...)
	}
	b = append(b, "\r\nX-Forwarded-Proto: "...)
	if v := trustedValue(r, trusted, "x-forwarded-proto"); v != nil {
		b = append(b, v...)
	} else {
		b = append(b, proto...)
	}
	b = append(b, "\r\n"...)
	if v := trustedValue(r, trusted, "x-forwarded-host"); v != nil {
		b = append(b, "X-Forwarded-Host: "...)
		b = append(b, v...)
		b = append(b, "\r\n"...)
	} else if r.host != nil {
		b = append(b, "X-Forwarded-Host: "...)
		b = append(b, r.host...)
		b = append(b, "\r\n"...)
	}

	// Forwarded (RFC 7239): for= the peer, IPv6 bracketed and quoted;
	// host= quoted (a port's ":" is not a token character).
	b = append(b, "Forwarded: "...)
	if trusted {
		b = appendFieldList(b, r, "forwarded", ", ")
	}
	b = append(b, "for="...)
	if cc.peer.Is6() {
		b = append(b, `"[`...)
		b = append(b, cc.remote...)
		b = append(b, `]"`...)
	} else if cc.remote != "" {
		b = append(b, cc.remote...)
	} else {
		b = append(b, "unknown"...)
	}
	if len(r.host) > 0 {
		b = append(b, `;host="`...)
		b = append(b, r.host...) // validHostValue: no quote or backslash
		b = append(b, '"')
	}
	b = append(b, ";proto="...)
	b = append(b, proto...)
	return append(b, "\r\n"...)
}

// appendFieldList appends the values of every field called name, each
// followed by sep (the list the agent then extends).
func appendFieldList(b []byte, r *head, name, sep string) []byte {
	for _, f := range r.headers {
		if asciiEqualFold(f.key, name) && len(f.value) > 0 {
			b = append(b, f.value...)
			b = append(b, sep...)
		}
	}
	return b
}

// trustedValue is the first value of name when the peer is trusted.
func trustedValue(r *head, trusted bool, name string) []byte {
	if !trusted {
		return nil
	}
	for _, f := range r.headers {
		if asciiEqualFold(f.key, name) && len(f.value) > 0 {
			return f.value
		}
	}
	return nil
}
