package certs

import (
	"context"
	"crypto/x509"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/edgectl/edgectl/fleet"
	"github.com/edgectl/edgectl/remote"
)

// ErrNoDomains: neither the fleet nor Config.Domains names a domain, so
// there is nothing to put in a certificate.
var ErrNoDomains = errors.New("no domains to certify: the fleet file lists none under domains")

// Dialer connects to a fleet host: provision.SSHDialer in production,
// remote.Local behind remotetest.Rooted in tests. It has the shape of
// provision.Dialer without importing provision.
type Dialer = func(ctx context.Context, h fleet.Host) (remote.Host, error)

// Config is what every operation needs.
type Config struct {
	// Fleet is the loaded fleet.yaml.
	Fleet *fleet.Fleet
	// State is the local state directory.
	State *State
	// Dial connects to a host (needed by issue and renew; status does
	// not log in anywhere).
	Dial Dialer
	// Domains are the names of the certificate (default Fleet.Domains).
	Domains []string
	// Directory is the ACME directory URL (default Fleet.ACME.Directory).
	Directory string
	// Resolver is the DNS server (host:port) for pre-flight and DNS-01
	// propagation checks; "" uses Fleet.Resolver, else the system resolver.
	Resolver string
	// HTTPPort is the port the CA validates HTTP-01 on (default 80).
	HTTPPort int
	// TLSPort is where the agents serve TLS (default: the agent's first
	// TLS listener port, else 443).
	TLSPort int
	// RootCAs verifies the ACME directory's TLS certificate (nil: the
	// system roots, plus acme.ca_certificates and LEGO_CA_CERTIFICATES).
	RootCAs *x509.CertPool
	// VerifyTimeout bounds how long distribution waits for every address
	// to serve the new certificate (default 45s: the agent polls its
	// certs_dir every second and retries a broken pair every 10s).
	VerifyTimeout time.Duration
	// Log receives progress (nil: discarded).
	Log *slog.Logger
	// Now is the clock (nil: time.Now).
	Now func() time.Time
}

func (c *Config) defaults() error {
	if c.Fleet == nil {
		return errors.New("no fleet")
	}
	if c.State == nil {
		return errors.New("no state directory")
	}
	if len(c.Domains) == 0 {
		c.Domains = c.Fleet.Domains
	}
	if len(c.Domains) == 0 {
		return ErrNoDomains
	}
	if c.Directory == "" {
		c.Directory = c.Fleet.ACME.Directory
	}
	if c.Resolver == "" {
		c.Resolver = c.Fleet.Resolver
	}
	if c.HTTPPort == 0 {
		c.HTTPPort = 80
	}
	if c.TLSPort == 0 {
		c.TLSPort = agentTLSPort(c.Fleet)
	}
	if c.VerifyTimeout <= 0 {
		c.VerifyTimeout = 45 * time.Second
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return nil
}

// agentTLSPort is the port of the agent's first TLS listener, else 443.
func agentTLSPort(f *fleet.Fleet) int {
	for _, l := range f.Agent.Listen {
		if !l.TLS {
			continue
		}
		if _, p, err := net.SplitHostPort(l.Addr); err == nil {
			if n, err := strconv.Atoi(p); err == nil && n > 0 {
				return n
			}
		}
	}
	return 443
}

// hostAddrs lists a host's public addresses: IPv4 first, then IPv6.
func hostAddrs(h fleet.Host) []netip.Addr {
	var out []netip.Addr
	for _, s := range []string{h.IPv4, h.IPv6} {
		if a, err := netip.ParseAddr(s); err == nil {
			out = append(out, a.Unmap())
		}
	}
	return out
}

// hostOf returns the fleet host that has address a.
func hostOf(f *fleet.Fleet, a netip.Addr) (fleet.Host, bool) {
	for _, h := range f.Hosts {
		for _, ha := range hostAddrs(h) {
			if ha == a.Unmap() {
				return h, true
			}
		}
	}
	return fleet.Host{}, false
}

// family names an address's family as probe does.
func family(a netip.Addr) string {
	if a.Unmap().Is4() {
		return "ipv4"
	}
	return "ipv6"
}

// conn is a connected fleet host.
type conn struct {
	host fleet.Host
	rh   remote.Host
}

// HostError is a host that could not be reached or changed.
type HostError struct {
	Host string `json:"host"`
	Err  string `json:"error"`
}

// connectAll dials every fleet host in parallel. On any failure it closes
// what it opened and returns one HostError per failed host.
func connectAll(ctx context.Context, c *Config) ([]*conn, []HostError) {
	conns := make([]*conn, len(c.Fleet.Hosts))
	errs := make([]error, len(c.Fleet.Hosts))
	var wg sync.WaitGroup
	for i, h := range c.Fleet.Hosts {
		wg.Go(func() {
			rh, err := c.Dial(ctx, h)
			if err != nil {
				errs[i] = err
				return
			}
			conns[i] = &conn{host: h, rh: rh}
		})
	}
	wg.Wait()
	var failed []HostError
	for i, err := range errs {
		if err != nil {
			failed = append(failed, HostError{Host: c.Fleet.Hosts[i].Name, Err: err.Error()})
		}
	}
	if len(failed) > 0 {
		closeAll(conns)
		return nil, failed
	}
	return conns, nil
}

func closeAll(conns []*conn) {
	for _, c := range conns {
		if c != nil {
			_ = c.rh.Close()
		}
	}
}

// forEach runs fn on every host in parallel and returns the errors by host
// name, nil when all succeeded.
func forEach(conns []*conn, fn func(c *conn) error) map[string]error {
	var mu sync.Mutex
	var out map[string]error
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Go(func() {
			if err := fn(c); err != nil {
				mu.Lock()
				if out == nil {
					out = map[string]error{}
				}
				out[c.host.Name] = err
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return out
}
