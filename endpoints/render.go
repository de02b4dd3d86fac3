package endpoints

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
)

// Default option values, used when the corresponding field is empty.
const (
	DefaultProtocol = "https"
	DefaultAPIPath  = "/api/v1"
)

// Options shape the rendered URLs. The zero value renders
// https://HOST/api/v1 and https://HOST.
type Options struct {
	// Protocol is the URL scheme of every endpoint: "http" or "https".
	// Empty means DefaultProtocol.
	Protocol string
	// APIPath is appended to each API URL. It must start with "/".
	// Empty means DefaultAPIPath.
	APIPath string
	// SocketPath is appended to each Socket.IO URL, e.g. "/socket.io". Empty
	// means none: the Socket.IO URL is then just the scheme, host and port.
	// When set it must start with "/".
	SocketPath string
	// DefaultPort, when above 0, is written into every URL, API and Socket.IO
	// alike (https://HOST:8443/api/v1, https://HOST:8443/socket.io). 0 leaves
	// the port out so clients use the scheme's default. It is written even
	// when it equals that default (443 for https).
	DefaultPort int
}

// Validate reports every invalid field of o, after defaults are applied.
func (o Options) Validate() error {
	o = o.withDefaults()
	var errs []error
	if o.Protocol != "http" && o.Protocol != "https" {
		errs = append(errs, fmt.Errorf("protocol must be http or https, not %q", o.Protocol))
	}
	if err := checkPath(o.APIPath); err != nil {
		errs = append(errs, fmt.Errorf("api path %v", err))
	}
	if o.SocketPath != "" {
		if err := checkPath(o.SocketPath); err != nil {
			errs = append(errs, fmt.Errorf("socket path %v", err))
		}
	}
	if o.DefaultPort < 0 || o.DefaultPort > 65535 {
		errs = append(errs, fmt.Errorf("default port must be 0 (none) to 65535, not %d", o.DefaultPort))
	}
	return errors.Join(errs...)
}

// checkPath reports why p cannot be the path of a URL.
func checkPath(p string) error {
	if !strings.HasPrefix(p, "/") {
		return fmt.Errorf("%q must start with \"/\"", p)
	}
	for _, r := range p {
		if r <= ' ' || r == 0x7f || r == '?' || r == '#' || r == '%' {
			return fmt.Errorf("%q must be a plain path: no spaces, control characters, '?', '#' or '%%'", p)
		}
	}
	return nil
}

func (o Options) withDefaults() Options {
	if o.Protocol == "" {
		o.Protocol = DefaultProtocol
	}
	if o.APIPath == "" {
		o.APIPath = DefaultAPIPath
	}
	return o
}

// Document is the failover JSON clients fetch: the same hosts twice, once as
// API base URLs and once as Socket.IO URLs, in the same order.
type Document struct {
	APIEndpoints      []Endpoint `json:"api_endpoints"`
	SocketIOEndpoints []Endpoint `json:"socketio_endpoints"`
}

// Endpoint is one URL a client may use. Clients try lower priorities first.
type Endpoint struct {
	URL      string `json:"url"`
	Priority int    `json:"priority"`
}

// Render builds the Document for l: one endpoint per domain, then one per IP,
// with priorities 0, 1, 2, ... in that order. Each API URL is
// PROTOCOL://HOST[:PORT]APIPATH and each Socket.IO URL is
// PROTOCOL://HOST[:PORT]SOCKETPATH, where the port appears only when
// o.DefaultPort > 0 and IPv6 hosts are always bracketed
// (https://[2001:db8::7]/api/v1). Empty fields of o take their defaults;
// Render does not validate o, so call o.Validate first. A nil l renders as
// empty lists.
func Render(l *List, o Options) Document {
	o = o.withDefaults()
	d := Document{APIEndpoints: []Endpoint{}, SocketIOEndpoints: []Endpoint{}}
	if l == nil {
		return d
	}
	hosts := make([]string, 0, len(l.Domains)+len(l.IPs))
	hosts = append(hosts, l.Domains...)
	for _, ip := range l.IPs {
		hosts = append(hosts, ip.String())
	}
	for i, h := range hosts {
		base := o.Protocol + "://" + hostPort(h, o.DefaultPort)
		d.APIEndpoints = append(d.APIEndpoints, Endpoint{URL: base + o.APIPath, Priority: i})
		d.SocketIOEndpoints = append(d.SocketIOEndpoints, Endpoint{URL: base + o.SocketPath, Priority: i})
	}
	return d
}

// hostPort is the authority part of a URL: host, bracketed if it is an IPv6
// literal, with ":port" when port > 0.
func hostPort(host string, port int) string {
	if port > 0 {
		return net.JoinHostPort(host, strconv.Itoa(port))
	}
	if strings.Contains(host, ":") {
		return "[" + host + "]"
	}
	return host
}

// JSON encodes d with two-space indentation and a trailing newline. Nil
// lists are written as [] rather than null, and URLs are not HTML-escaped.
func (d Document) JSON() ([]byte, error) {
	if d.APIEndpoints == nil {
		d.APIEndpoints = []Endpoint{}
	}
	if d.SocketIOEndpoints == nil {
		d.SocketIOEndpoints = []Endpoint{}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(d); err != nil {
		return nil, fmt.Errorf("encode endpoints document: %w", err)
	}
	return buf.Bytes(), nil
}
