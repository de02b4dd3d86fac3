package certs

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"path"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/edgectl/edgectl/hostlock"
	"github.com/edgectl/edgectl/probe"
	"github.com/edgectl/edgectl/remote"
)

// hostLockWait is how long distribution waits for a host locked by a
// deploy or install.
const hostLockWait = 2 * time.Minute

// stagingDir is where a pair is uploaded before being moved into place;
// the agent's certificate store ignores directories starting with ".".
const stagingDir = ".edgectl-staging"

// AddrCheck is what one host address serves after distribution (or in
// status).
type AddrCheck struct {
	Host   string `json:"host"`
	Addr   string `json:"addr"`
	Family string `json:"family"`
	// Serial is the serial served with SNI = the name ("" if none).
	Serial string `json:"serial,omitempty"`
	// OK is true when Serial is the expected one.
	OK bool `json:"ok"`
	// Stale is true when another certificate is served.
	Stale bool `json:"stale,omitempty"`
	// After is how long the address took to serve it, from the start of
	// distribution (after_ms in JSON).
	After   time.Duration `json:"-"`
	Problem string        `json:"problem,omitempty"`
}

// MarshalJSON writes After as after_ms.
func (a AddrCheck) MarshalJSON() ([]byte, error) {
	type plain AddrCheck
	return json.Marshal(struct {
		plain
		AfterMS float64 `json:"after_ms,omitempty"`
	}{plain(a), millis(a.After)})
}

// Distribution is the outcome of pushing a certificate to the fleet.
type Distribution struct {
	Name   string      `json:"name"`
	Serial string      `json:"serial"`
	Hosts  []HostError `json:"host_errors,omitempty"`
	Addrs  []AddrCheck `json:"addrs"`
	// Elapsed is from the first upload to the last address serving the
	// new serial (elapsed_ms in JSON).
	Elapsed time.Duration `json:"-"`
}

// MarshalJSON writes Elapsed as elapsed_ms.
func (d Distribution) MarshalJSON() ([]byte, error) {
	type plain Distribution
	return json.Marshal(struct {
		plain
		ElapsedMS float64 `json:"elapsed_ms"`
	}{plain(d), millis(d.Elapsed)})
}

// OK reports whether every host got the files and every address serves
// the new serial.
func (d *Distribution) OK() bool {
	if len(d.Hosts) > 0 {
		return false
	}
	for _, a := range d.Addrs {
		if !a.OK {
			return false
		}
	}
	return true
}

// distribute writes cert to tls.certs_dir/<name>/ on every host and waits
// until every host address serves its serial. Each host's lock
// (hostlock) is held while its files are written, so distribution never
// runs into the middle of a deploy: it waits up to hostLockWait for one.
//
// The files are uploaded into certs_dir/.edgectl-staging/ (ignored by the
// agent), given the owner of certs_dir (the agent's user must read the key),
// then renamed into place: the key first, then the chain. Each rename is
// atomic; between the two the agent may see the new key with the old
// chain, a mismatched pair its store refuses while it keeps serving the
// old certificate, so no handshake ever gets a broken pair.
func distribute(ctx context.Context, c *Config, conns []*conn, cert *StoredCert) *Distribution {
	d := &Distribution{Name: cert.Meta.Name, Serial: cert.Meta.Serial, Addrs: []AddrCheck{}}
	start := time.Now()
	certsDir := c.Fleet.Agent.TLS.CertsDir
	holder := hostlock.Self(hostlock.KindCert, "cert distribution of "+cert.Meta.Name, hostLockWait+5*time.Minute)
	errs := forEach(conns, func(cn *conn) error {
		// A deploy or install changing the host now is waited for.
		l, err := hostlock.Acquire(ctx, cn.rh, holder, hostlock.Options{Wait: hostLockWait, OnWait: func(st hostlock.Status) {
			c.Log.Info("waiting for the host's lock", "host", cn.host.Name, "holder", st.Describe())
		}})
		if err != nil {
			return fmt.Errorf("take the host's lock: %w", err)
		}
		defer l.Release(context.WithoutCancel(ctx))
		return install(ctx, cn.rh, certsDir, cert)
	})
	failed := map[string]bool{}
	for _, cn := range conns {
		if err, ok := errs[cn.host.Name]; ok {
			d.Hosts = append(d.Hosts, HostError{Host: cn.host.Name, Err: err.Error()})
			failed[cn.host.Name] = true
		}
	}
	c.Log.Info("certificate written", "name", cert.Meta.Name, "hosts", len(conns)-len(failed))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, h := range c.Fleet.Hosts {
		for _, a := range hostAddrs(h) {
			if failed[h.Name] {
				d.Addrs = append(d.Addrs, AddrCheck{Host: h.Name, Addr: a.String(), Family: family(a), Problem: "files not written"})
				continue
			}
			wg.Go(func() {
				ac := waitServed(ctx, c, cert, h.Name, a.String(), start)
				mu.Lock()
				d.Addrs = append(d.Addrs, ac)
				mu.Unlock()
			})
		}
	}
	wg.Wait()
	sortChecks(c, d.Addrs)
	d.Elapsed = time.Since(start)
	return d
}

// install uploads the pair for one host and moves it into place.
func install(ctx context.Context, h remote.Host, certsDir string, cert *StoredCert) error {
	dir := path.Join(certsDir, cert.Meta.Name)
	stage := path.Join(certsDir, stagingDir, cert.Meta.Name)
	q := remote.ShellQuote
	if _, err := h.Run(ctx, "mkdir -p -- "+q(dir)+" "+q(stage), nil); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	if err := h.WriteFile(ctx, path.Join(stage, KeyFile), cert.Key, 0o600); err != nil {
		return fmt.Errorf("upload %s: %w", KeyFile, err)
	}
	if err := h.WriteFile(ctx, path.Join(stage, ChainFile), cert.Chain, 0o644); err != nil {
		return fmt.Errorf("upload %s: %w", ChainFile, err)
	}
	// chown may fail for a non-root SSH user: then the files stay theirs.
	cmd := fmt.Sprintf("chown --reference=%s -- %s %s %s 2>/dev/null; mv -f -- %s %s && mv -f -- %s %s",
		q(certsDir), q(dir), q(path.Join(stage, KeyFile)), q(path.Join(stage, ChainFile)),
		q(path.Join(stage, KeyFile)), q(path.Join(dir, KeyFile)),
		q(path.Join(stage, ChainFile)), q(path.Join(dir, ChainFile)))
	if _, err := h.Run(ctx, cmd, nil); err != nil {
		return fmt.Errorf("move the certificate into %s: %w", dir, err)
	}
	return nil
}

// waitServed polls a TLS handshake to addr (SNI = the name) until the new
// serial is served or c.VerifyTimeout passes.
func waitServed(ctx context.Context, c *Config, cert *StoredCert, host, addr string, start time.Time) AddrCheck {
	ip := parseIP(addr)
	ac := AddrCheck{Host: host, Addr: addr, Family: family(ip)}
	deadline := time.Now().Add(c.VerifyTimeout)
	for {
		got := serveCheck(ctx, c, cert, host, addr)
		ac.Serial, ac.Problem, ac.Stale = got.Serial, got.Problem, got.Stale
		if got.OK {
			ac.OK, ac.After = true, time.Since(start)
			return ac
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			if ac.Problem == "" {
				ac.Problem = fmt.Sprintf("still serving serial %s after %s; check the agent's log (certificate store) and that it can read %s", ac.Serial, c.VerifyTimeout, KeyFile)
			}
			return ac
		}
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// serveCheck makes one TLS handshake to addr on the TLS port with SNI =
// the certificate's first name and compares the serial.
func serveCheck(ctx context.Context, c *Config, cert *StoredCert, host, addr string) AddrCheck {
	ip := parseIP(addr)
	ac := AddrCheck{Host: host, Addr: addr, Family: family(ip)}
	hp := net.JoinHostPort(addr, strconv.Itoa(c.TLSPort))
	res := probe.Do(ctx, probe.Request{Addr: hp, Scheme: "https", Host: sniName(cert.Meta.Domains), Path: c.Fleet.Agent.HealthPath, Timeout: 3 * time.Second})
	if res.TLS != nil {
		ac.Serial = res.TLS.Serial
	}
	switch {
	case res.TLS == nil && res.Err != nil:
		ac.Problem = fmt.Sprintf("TLS to %s: %s (%v)", hp, res.Kind, res.Err)
	case ac.Serial == cert.Meta.Serial:
		ac.OK = true
	default:
		ac.Stale = true
		ac.Problem = fmt.Sprintf("serves serial %s, not %s", ac.Serial, cert.Meta.Serial)
	}
	return ac
}

// sniName is the name to ask for: the first name that is not a wildcard,
// else a label under the wildcard.
func sniName(domains []string) string {
	for _, d := range domains {
		if len(d) < 2 || d[:2] != "*." {
			return d
		}
	}
	if len(domains) > 0 {
		return "edgectl-check" + domains[0][1:]
	}
	return ""
}

// parseIP parses an address that came from netip (always valid).
func parseIP(s string) netip.Addr {
	a, _ := netip.ParseAddr(s)
	return a
}

// sortChecks orders checks as the fleet lists hosts, IPv4 before IPv6.
func sortChecks(c *Config, checks []AddrCheck) {
	rank := map[string]int{}
	for i, h := range c.Fleet.Hosts {
		for j, a := range hostAddrs(h) {
			rank[h.Name+" "+a.String()] = i*2 + j
		}
	}
	sort.SliceStable(checks, func(i, j int) bool {
		return rank[checks[i].Host+" "+checks[i].Addr] < rank[checks[j].Host+" "+checks[j].Addr]
	})
}
