package proxy

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgectl/edgectl/agentconfig"
	"github.com/edgectl/edgectl/proxy/balance"
)

// Upstream is a named pool of peers with failover.
type Upstream struct {
	Name string

	peers     []*Peer // configuration order: primaries and backups mixed
	policy    balance.Policy
	failovers atomic.Uint64
	closed    atomic.Bool // replaced by a reload: do not pool connections
	hold      *holdGate   // pause state, kept across reloads (hold.go)

	maxFails       int
	failTimeout    time.Duration
	tries          int
	keepalive      int
	keepaliveTO    time.Duration
	connectTO      time.Duration
	responseTO     time.Duration
	readTO         time.Duration
	health         *agentconfig.Health
	tlsConfig      *tls.Config // nil for http
	dialer         net.Dialer
	healthStop     chan struct{}
	healthStopOnce sync.Once
	healthWG       sync.WaitGroup

	// tcpCheck makes active checks TCP connects (UseTCPHealthCheck, for
	// upstreams used by streams).
	tcpCheck atomic.Bool
}

// NewUpstream builds a pool from its configuration. Peers listed in prev
// (an upstream being replaced on reload) keep their health state and idle
// connections when their address and role are unchanged.
func NewUpstream(name string, c *agentconfig.Upstream, prev *Upstream) (*Upstream, error) {
	pol, ok := balance.Lookup(c.Policy)
	if c.Policy == "" {
		pol, ok = balance.Lookup(balance.Default)
	}
	if !ok {
		return nil, fmt.Errorf("upstream %s: unknown policy %q (known: %s)", name, c.Policy, strings.Join(balance.Names(), ", "))
	}
	u := &Upstream{
		Name:     name,
		maxFails: *c.MaxFails, failTimeout: c.FailTimeout, tries: c.Tries,
		keepaliveTO: c.KeepaliveTimeout, connectTO: c.ConnectTimeout, responseTO: c.ResponseTimeout,
		readTO: orDefault(c.ReadTimeout, agentconfig.DefaultReadTimeout),
		health: c.Health, healthStop: make(chan struct{}),
	}
	if c.Keepalive != nil {
		// nginx keeps `keepalive` idle connections per worker process and
		// runs one worker per CPU; the agent keeps the same total.
		u.keepalive = *c.Keepalive * runtime.GOMAXPROCS(0)
	}
	u.dialer = net.Dialer{Timeout: u.connectTO, KeepAlive: 30 * time.Second}
	if c.Scheme == "https" {
		tc := &tls.Config{ServerName: c.ServerName, MinVersion: tls.VersionTLS12, NextProtos: []string{"http/1.1"}}
		if c.CAFile != "" {
			pem, err := os.ReadFile(c.CAFile)
			if err != nil {
				return nil, fmt.Errorf("upstream %s: read ca_file: %w", name, err)
			}
			pool, err := x509.SystemCertPool()
			if err != nil || pool == nil {
				pool = x509.NewCertPool()
			}
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("upstream %s: ca_file %s holds no PEM certificate", name, c.CAFile)
			}
			tc.RootCAs = pool
		}
		u.tlsConfig = tc
	}
	u.hold = &holdGate{}
	old := map[string]*Peer{}
	if prev != nil {
		u.hold = prev.hold
		for _, p := range prev.peers {
			old[p.Addr] = p
		}
	}
	weights := make([]int, len(c.Servers))
	for i, s := range c.Servers {
		weights[i] = max(s.Weight, 1)
	}
	u.policy = pol.New(weights)
	for _, s := range c.Servers {
		p := &Peer{Addr: s.Addr, Backup: s.Backup, Weight: max(s.Weight, 1), up: u}
		if o := old[s.Addr]; o != nil && o.Backup == s.Backup {
			o.mu.Lock()
			p.activeUp, p.rises, p.falls = o.activeUp, o.rises, o.falls
			p.lastCheck, p.lastResult, p.checkRTT = o.lastCheck, o.lastResult, o.checkRTT
			p.fails, p.firstFail, p.downUntil = o.fails, o.firstFail, o.downUntil
			o.mu.Unlock()
			p.ewmaNS.Store(o.ewmaNS.Load())
			p.idle.adopt(&o.idle)
			p.adopted = true
		} else {
			p.activeUp = true // replaced by the first check before traffic
		}
		p.mu.Lock()
		p.refreshLocked(time.Now())
		p.mu.Unlock()
		u.peers = append(u.peers, p)
	}
	return u, nil
}

// Peers returns the pool's peers in configuration order.
func (u *Upstream) Peers() []*Peer { return u.peers }

// Tries is the number of attempts a request may make.
func (u *Upstream) Tries() int { return u.tries }

// Live reports whether any peer is live.
func (u *Upstream) Live(now time.Time) bool {
	for _, p := range u.peers {
		if p.live(now) {
			return true
		}
	}
	return false
}

// pick chooses a live peer that this request has not tried (tried is a
// bitmask over peer indexes). Primaries are preferred; backups serve only
// when no untried primary is live. It returns -1 when none is left. cand
// is scratch space owned by the caller (a policy sees it through an
// interface, so a local array would escape: one allocation per request).
func (u *Upstream) pick(now time.Time, tried uint64, cand *[64]int) int {
	for _, wantBackup := range [2]bool{false, true} {
		n := 0
		for i, p := range u.peers {
			if i >= 64 {
				break
			}
			if p.Backup != wantBackup || tried&(1<<uint(i)) != 0 || !p.live(now) {
				continue
			}
			cand[n] = i
			n++
		}
		if n == 0 {
			continue
		}
		if n == 1 {
			return cand[0]
		}
		return u.choose(cand[:n])
	}
	return -1
}

func (u *Upstream) choose(c []int) int { return u.policy.Pick(u, c) }

// Weight, Inflight and LatencyNS show the pool to its balance.Policy.
func (u *Upstream) Weight(i int) int { return u.peers[i].Weight }

// Inflight is the number of requests peer i is serving.
func (u *Upstream) Inflight(i int) int64 { return u.peers[i].inflight.Load() }

// LatencyNS is peer i's latency EWMA in nanoseconds (0 = not measured).
func (u *Upstream) LatencyNS(i int) int64 { return u.peers[i].ewmaNS.Load() }

// UpstreamStatus is an upstream as shown by /status and the health path.
type UpstreamStatus struct {
	Name      string       `json:"name"`
	Live      int          `json:"live"`
	Total     int          `json:"total"`
	Failovers uint64       `json:"failovers"`
	Peers     []PeerStatus `json:"servers"`
	// Hold is set while the upstream is paused, or once it was.
	Hold *HoldStatus `json:"hold,omitempty"`
}

// Status snapshots the pool.
func (u *Upstream) Status(now time.Time) UpstreamStatus {
	s := UpstreamStatus{Name: u.Name, Total: len(u.peers), Failovers: u.failovers.Load(), Hold: u.hold.status(u, now)}
	for _, p := range u.peers {
		ps := p.Status(now)
		if ps.State == "up" {
			s.Live++
		}
		s.Peers = append(s.Peers, ps)
	}
	return s
}

// Close stops health checks and closes idle connections of peers that the
// next configuration did not adopt.
func (u *Upstream) Close() {
	u.closed.Store(true)
	u.healthStopOnce.Do(func() { close(u.healthStop) })
	u.healthWG.Wait()
	for _, p := range u.peers {
		p.idle.closeAll()
	}
}
