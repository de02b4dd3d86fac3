package agent

import (
	"encoding/json"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/edgectl/edgectl/proxy"
)

// healthBody is the agent's health answer. Every client gets the status;
// the version and the upstreams (names and live counts) only go to clients
// on the host itself (loopback: deploy's health gate, sweep), never to the
// internet. The admin socket's /status has all of it.
type healthBody struct {
	Status   string                    `json:"status"` // healthy | degraded | draining
	Service  string                    `json:"service,omitempty"`
	Version  string                    `json:"version,omitempty"`
	Upstream map[string]upstreamHealth `json:"upstreams,omitempty"`
	// Deploy is present while a deploy is changing the host: how long it
	// has run and may run. No names: the health path is public.
	Deploy *deployHealth `json:"deploy,omitempty"`
}

type deployHealth struct {
	AgeMS int64 `json:"age_ms"`
	MaxMS int64 `json:"max_ms"`
}

type upstreamHealth struct {
	Live  int `json:"live"`
	Total int `json:"total"`
}

// local answers the paths the agent serves itself, before routing, in
// this order: ACME HTTP-01 challenges (before any redirect), the health
// path, the endpoints list, then the HTTP→HTTPS redirect when configured.
func (a *Agent) local(r *proxy.LocalRequest) *proxy.LocalResponse {
	if acme := a.acme.Load(); acme != nil {
		if resp := acme.serve(r); resp != nil {
			return resp
		}
	}
	cfg := a.cfg.Load()
	if string(r.Path) == cfg.HealthPath {
		return a.health(onHost(r.Remote))
	}
	if ep := a.endpoints.Load(); ep != nil {
		if resp := ep.serve(r); resp != nil {
			return resp
		}
	}
	if !r.TLS && *cfg.TLS.RedirectHTTP && len(r.Path) > 0 && r.Path[0] == '/' {
		if port, ok := a.tlsPort(); ok {
			if !validRedirectHost(r.Host) {
				// No URL to send the client to ("https://:443/" is none).
				return &proxy.LocalResponse{
					Status: 400,
					Header: []string{"Content-Type", "text/plain", "Cache-Control", "no-store"},
					Body:   []byte("missing or invalid Host header; use https\n"),
				}
			}
			host := string(r.Host)
			if port != "443" {
				host = net.JoinHostPort(host, port)
			} else if len(r.Host) > 0 && r.Host[0] != '[' && containsColon(r.Host) {
				host = "[" + host + "]"
			}
			return &proxy.LocalResponse{
				Status: 308,
				Header: []string{"Location", "https://" + host + escapeTarget(r.Target), "Content-Type", "text/plain"},
				Body:   []byte("use https\n"),
			}
		}
	}
	return nil
}

// validRedirectHost reports whether host (the Host header without its
// port or brackets) can be the host of the redirect URL: a name made of
// letters, digits, '-', '.' and '_', or an IP address without a zone.
func validRedirectHost(host []byte) bool {
	if len(host) == 0 {
		return false
	}
	if containsColon(host) {
		ip, err := netip.ParseAddr(string(host))
		return err == nil && ip.Zone() == ""
	}
	for _, c := range host {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '.', c == '_':
		default:
			return false
		}
	}
	return true
}

// escapeTarget makes a request target safe to put in a Location field:
// every byte outside what a URI path and query may hold (RFC 3986
// unreserved, sub-delims, ":", "@", "/", "?", and "%" when it starts an
// escape) is percent-encoded, so no byte the client chose (a quote, a
// backslash, a byte from 0x80, a stray "%") reaches the header as is.
func escapeTarget(t []byte) string {
	const hex = "0123456789ABCDEF"
	out := make([]byte, 0, len(t)+8)
	for i, c := range t {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
			out = append(out, c)
		case c == '%' && i+2 < len(t) && isHex(t[i+1]) && isHex(t[i+2]):
			out = append(out, c)
		case c != '%' && strings.IndexByte("-._~!$&'()*+,;=:@/?", c) >= 0:
			out = append(out, c)
		default:
			out = append(out, '%', hex[c>>4], hex[c&15])
		}
	}
	return string(out)
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func containsColon(b []byte) bool {
	for _, c := range b {
		if c == ':' {
			return true
		}
	}
	return false
}

// tlsPort is the port of the first TLS listener.
func (a *Agent) tlsPort() (string, bool) {
	for _, l := range a.cfg.Load().Listen {
		if l.TLS {
			_, port, err := net.SplitHostPort(l.Addr)
			if err == nil {
				if _, err := strconv.Atoi(port); err == nil {
					return port, true
				}
			}
		}
	}
	return "", false
}

// onHost reports whether a client address is the host's own loopback.
func onHost(remote string) bool {
	ip, err := netip.ParseAddr(remote)
	return err == nil && ip.Unmap().IsLoopback()
}

// health is 200 while serving ("degraded" when an upstream has no live
// server, so gates can tell) and 503 from the moment a drain starts. With
// details (a client on the host) it names the version and the upstreams.
func (a *Agent) health(details bool) *proxy.LocalResponse {
	b := healthBody{Status: "healthy"}
	if details {
		b.Service, b.Version, b.Upstream = "edgectl-agent", a.Version, map[string]upstreamHealth{}
	}
	for _, us := range a.handler.Table().Status(time.Now()) {
		if details {
			b.Upstream[us.Name] = upstreamHealth{Live: us.Live, Total: us.Total}
		}
		if us.Live == 0 {
			b.Status = "degraded"
		}
	}
	if m := a.deployMark(); m != nil {
		b.Deploy = &deployHealth{AgeMS: m.AgeMS, MaxMS: m.MaxMS}
	}
	status := 200
	if a.draining.Load() {
		b.Status, status = "draining", 503
	}
	body, _ := json.Marshal(b)
	body = append(body, '\n')
	return &proxy.LocalResponse{
		Status: status,
		Header: []string{"Content-Type", "application/json", "Cache-Control", "no-store"},
		Body:   body,
	}
}
