package fleet

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sort"
	"strconv"
	"strings"
)

// Errors from Select, for errors.Is.
var (
	// ErrUnknownHost: a name given to --hosts is not in the fleet.
	ErrUnknownHost = errors.New("unknown host")
	// ErrNoHosts: the selection matched no host.
	ErrNoHosts = errors.New("no hosts selected")
)

// Select returns the hosts named in names (all hosts when names is empty)
// that carry label (any label when it is ""), in fleet order, each once.
// Empty names are ignored, so a split "a,,b" is fine. A name that is not in
// the fleet is an ErrUnknownHost listing the known names; a selection that
// matches nothing is an ErrNoHosts.
func (f *Fleet) Select(names []string, label string) ([]Host, error) {
	want := map[string]bool{}
	var unknown []string
	for _, n := range names {
		n = strings.TrimSpace(n)
		if n == "" || want[n] {
			continue
		}
		want[n] = true
		if _, ok := f.Host(n); !ok {
			unknown = append(unknown, strconv.Quote(n))
		}
	}
	if len(unknown) > 0 {
		return nil, fmt.Errorf("%w %s; the fleet has: %s", ErrUnknownHost, strings.Join(unknown, ", "), strings.Join(f.Names(), ", "))
	}
	var out []Host
	for _, h := range f.Hosts {
		if (len(want) == 0 || want[h.Name]) && (label == "" || h.HasLabel(label)) {
			out = append(out, h)
		}
	}
	if len(out) > 0 {
		return out, nil
	}
	switch labels := f.Labels(); {
	case len(f.Hosts) == 0:
		return nil, fmt.Errorf("%w: the fleet has no hosts", ErrNoHosts)
	case label != "" && !contains(labels, label):
		known := "no host has a label"
		if len(labels) > 0 {
			known = "labels in use: " + strings.Join(labels, ", ")
		}
		return nil, fmt.Errorf("%w: no host has label %q (%s)", ErrNoHosts, label, known)
	default:
		return nil, fmt.Errorf("%w: none of the named hosts has label %q", ErrNoHosts, label)
	}
}

// Host returns the host called name.
func (f *Fleet) Host(name string) (Host, bool) {
	for _, h := range f.Hosts {
		if h.Name == name {
			return h, true
		}
	}
	return Host{}, false
}

// Names lists the host names in fleet order.
func (f *Fleet) Names() []string {
	out := make([]string, len(f.Hosts))
	for i, h := range f.Hosts {
		out[i] = h.Name
	}
	return out
}

// Labels lists every label in use, sorted, each once.
func (f *Fleet) Labels() []string {
	seen := map[string]bool{}
	var out []string
	for _, h := range f.Hosts {
		for _, l := range h.Labels {
			if !seen[l] {
				seen[l] = true
				out = append(out, l)
			}
		}
	}
	sort.Strings(out)
	return out
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// JumpHost splits ssh.jump into the user and the host:port to connect to,
// with the user defaulting to ssh.user and the port to 22. ok is false
// when there is no (valid) jump host.
func (s SSH) JumpHost() (user, addr string, ok bool) {
	if s.Jump == "" || checkJump(s.Jump) != nil {
		return "", "", false
	}
	user, hostport, found := strings.Cut(s.Jump, "@")
	if !found {
		user, hostport = s.User, s.Jump
	}
	host, port, _ := splitHostPort(hostport)
	if port == 0 {
		port = DefaultSSHPort
	}
	return user, net.JoinHostPort(host, strconv.Itoa(port)), true
}

// ClientEndpoints is the failover list for endpoints.txt: endpoints.domains
// or else the fleet's domains without wildcards, and endpoints.ips or else
// every host's ipv4 and ipv6 addresses in fleet order, each once.
func (f *Fleet) ClientEndpoints() (domains, ips []string) {
	domains = f.Endpoints.Domains
	if len(domains) == 0 {
		for _, d := range f.Domains {
			if !strings.HasPrefix(d, "*.") {
				domains = append(domains, d)
			}
		}
	}
	ips = f.Endpoints.IPs
	if len(ips) == 0 {
		seen := map[netip.Addr]bool{}
		for _, h := range f.Hosts {
			for _, s := range []string{h.IPv4, h.IPv6} {
				if a, err := netip.ParseAddr(s); err == nil && !seen[a] {
					seen[a] = true
					ips = append(ips, s)
				}
			}
		}
	}
	return domains, ips
}

// SweepPort is the port sweep probes: sweep.port, or else the port of the
// agent's first TLS listener for scheme https (first plain listener for
// http), or else 443 (80).
func (f *Fleet) SweepPort() int {
	if f.Sweep.Port != 0 {
		return f.Sweep.Port
	}
	tls := f.Sweep.Scheme != "http"
	for _, l := range f.Agent.Listen {
		if l.TLS != tls {
			continue
		}
		if _, p, err := net.SplitHostPort(l.Addr); err == nil {
			if n, err := strconv.Atoi(p); err == nil && n > 0 {
				return n
			}
		}
	}
	if tls {
		return 443
	}
	return 80
}
