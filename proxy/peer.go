package proxy

import (
	"sync"
	"sync/atomic"
	"time"
)

// Peer is one upstream server: its address, role, health and idle
// connections. Every field that changes while serving is atomic or guarded
// by mu, so a Peer can be shared by many requests and kept across reloads.
type Peer struct {
	// Addr is host:port as written in the configuration.
	Addr string
	// Backup peers serve only while no primary is live.
	Backup bool
	// Weight biases round_robin and least_conn.
	Weight int

	up *Upstream

	inflight atomic.Int64
	ewmaNS   atomic.Int64 // latency EWMA to response headers, ns; 0 = no sample

	requests atomic.Uint64
	failures atomic.Uint64
	stale    atomic.Uint64 // requests replayed after a reused connection turned out closed

	mu sync.Mutex
	// passive (nginx max_fails / fail_timeout)
	fails       int
	firstFail   time.Time
	downUntil   time.Time
	recentFails []time.Time // last few failure times, for /status
	lastError   string
	// active
	activeUp   bool
	rises      int
	falls      int
	lastCheck  time.Time
	lastResult string
	checkRTT   time.Duration

	// Lock-free view of the state above for the hot path, updated under mu.
	downFlag    atomic.Bool  // down for some reason
	activeDown  atomic.Bool  // the active check says down
	downUntilNS atomic.Int64 // passive mark expiry, unix ns (0 = none)

	idle    idlePool
	adopted bool // carried over from the previous configuration
}

// live reports whether the peer may be chosen now. It takes no lock: it
// runs for every peer on every request.
func (p *Peer) live(now time.Time) bool {
	if !p.downFlag.Load() {
		return true
	}
	if p.activeDown.Load() {
		return false
	}
	// Passively down: live again once fail_timeout has passed.
	return now.UnixNano() >= p.downUntilNS.Load()
}

// refreshLocked recomputes the lock-free flags; a passive mark expires
// after fail_timeout.
func (p *Peer) refreshLocked(now time.Time) {
	active := p.up.health != nil && !p.activeUp
	passive := false
	if !p.downUntil.IsZero() {
		if now.Before(p.downUntil) {
			passive = true
		} else {
			p.downUntil = time.Time{}
			p.fails = 0
		}
	}
	p.activeDown.Store(active)
	if passive {
		p.downUntilNS.Store(p.downUntil.UnixNano())
	} else {
		p.downUntilNS.Store(0)
	}
	p.downFlag.Store(active || passive)
}

// passiveFail records a failed attempt (nginx: error or timeout). After
// max_fails failures within fail_timeout the peer is down for fail_timeout.
func (p *Peer) passiveFail(now time.Time, err error) {
	p.failures.Add(1)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.lastError = err.Error()
	p.recentFails = append(p.recentFails, now)
	if len(p.recentFails) > 8 {
		p.recentFails = p.recentFails[len(p.recentFails)-8:]
	}
	u := p.up
	if u.maxFails <= 0 || (u.health == nil && len(u.peers) == 1) {
		// Like nginx, a lone server is never marked down passively:
		// there is nowhere else to send the request.
		return
	}
	if p.fails == 0 || now.Sub(p.firstFail) > u.failTimeout {
		p.fails = 0
		p.firstFail = now
	}
	p.fails++
	if p.fails >= u.maxFails {
		p.downUntil = now.Add(u.failTimeout)
		p.rises = 0 // active checks must pass rise times again to clear it
		p.refreshLocked(now)
	}
}

// observe folds a latency sample into the EWMA (weight 1/4 to the new
// sample), used by the fastest policy and /status.
func (p *Peer) observe(d time.Duration) {
	for {
		old := p.ewmaNS.Load()
		n := int64(d)
		if old != 0 {
			n = old - old/4 + int64(d)/4
		}
		if n == 0 {
			n = 1
		}
		if p.ewmaNS.CompareAndSwap(old, n) {
			return
		}
	}
}

// PeerStatus is the state of a peer as shown by /status.
type PeerStatus struct {
	Addr        string    `json:"addr"`
	Backup      bool      `json:"backup"`
	Weight      int       `json:"weight"`
	State       string    `json:"state"` // up | down
	Reason      string    `json:"reason,omitempty"`
	Inflight    int64     `json:"inflight"`
	Requests    uint64    `json:"requests"`
	Failures    uint64    `json:"failures"`
	RecentFails []string  `json:"recent_failures"`
	LastError   string    `json:"last_error,omitempty"`
	LastCheck   time.Time `json:"last_check,omitzero"`
	CheckResult string    `json:"last_check_result,omitempty"`
	CheckMS     float64   `json:"last_check_ms,omitempty"`
	LatencyMS   float64   `json:"latency_ms"`
	IdleConns   int       `json:"idle_conns"`
	DownUntil   time.Time `json:"down_until,omitzero"`
}

// Status snapshots the peer.
func (p *Peer) Status(now time.Time) PeerStatus {
	p.mu.Lock()
	p.refreshLocked(now)
	s := PeerStatus{
		Addr: p.Addr, Backup: p.Backup, Weight: p.Weight, State: "up",
		Inflight: p.inflight.Load(), Requests: p.requests.Load(), Failures: p.failures.Load(),
		LastError: p.lastError, LastCheck: p.lastCheck, CheckResult: p.lastResult,
		CheckMS:   float64(p.checkRTT.Microseconds()) / 1000,
		LatencyMS: float64(p.ewmaNS.Load()/1000) / 1000,
		DownUntil: p.downUntil,
	}
	s.RecentFails = make([]string, 0, len(p.recentFails))
	for _, t := range p.recentFails {
		s.RecentFails = append(s.RecentFails, t.UTC().Format(time.RFC3339Nano))
	}
	switch {
	case p.up.health != nil && !p.activeUp:
		s.State, s.Reason = "down", "active health check failing"
	case !p.downUntil.IsZero():
		s.State, s.Reason = "down", "passive: max_fails reached"
	}
	p.mu.Unlock()
	s.IdleConns = p.idle.len()
	return s
}
