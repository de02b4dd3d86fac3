package proxy

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"time"
)

// Active health checks: GET health.path on every peer each interval; rise
// consecutive passes bring a peer up (and clear any passive mark), fall
// consecutive failures take it down. A 2xx or 3xx answer within the timeout
// passes.
//
// An upstream used by a stream (agent.yaml streams:) is checked with TCP
// connects instead, since its servers need not speak HTTP: a connect that
// succeeds within health.timeout passes; health.path is ignored. The agent
// selects this with UseTCPHealthCheck, so an upstream shared by a route and
// a stream is checked with TCP connects too.

// UseTCPHealthCheck makes the active checks of u plain TCP connects rather
// than HTTP GETs of health.path. Call it before Table.CheckNow and
// Table.Start.
func (u *Upstream) UseTCPHealthCheck() { u.tcpCheck.Store(true) }

// checkTCP passes when a TCP connection to p opens within health.timeout.
func (u *Upstream) checkTCP(p *Peer) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(context.Background(), u.health.Timeout)
	defer cancel()
	start := time.Now()
	c, err := u.dialer.DialContext(ctx, "tcp", p.Addr)
	rtt := time.Since(start)
	if err != nil {
		return rtt, err
	}
	_ = c.Close()
	return rtt, nil
}

func (u *Upstream) healthClient(p *Peer) *http.Client {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return u.dialer.DialContext(ctx, "tcp", p.Addr)
		},
		DisableKeepAlives:   true,
		TLSHandshakeTimeout: u.health.Timeout,
		TLSClientConfig:     u.tlsConfig,
	}
	if u.tlsConfig != nil && u.tlsConfig.ServerName == "" {
		host, _, _ := net.SplitHostPort(p.Addr)
		tc := u.tlsConfig.Clone()
		tc.ServerName = host
		tr.TLSClientConfig = tc
	}
	return &http.Client{
		Transport: tr,
		Timeout:   u.health.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// check runs one health check against p.
func (u *Upstream) check(client *http.Client, p *Peer) (time.Duration, error) {
	if u.tcpCheck.Load() {
		return u.checkTCP(p)
	}
	scheme := "http"
	if u.tlsConfig != nil {
		scheme = "https"
	}
	url := scheme + "://" + p.Addr + u.health.Path
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("User-Agent", "edgectl-agent-health")
	start := time.Now()
	resp, err := client.Do(req)
	rtt := time.Since(start)
	if err != nil {
		return rtt, err
	}
	_, _ = io.CopyN(io.Discard, resp.Body, 4096)
	_ = resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode >= 400 {
		return rtt, fmt.Errorf("%s answered %d", u.health.Path, resp.StatusCode)
	}
	return rtt, nil
}

// record applies one check result. first makes the result decisive (the
// round run before traffic, when there is no history to smooth).
func (p *Peer) record(now time.Time, rtt time.Duration, err error, first bool) {
	h := p.up.health
	p.mu.Lock()
	defer p.mu.Unlock()
	p.lastCheck, p.checkRTT = now, rtt
	if err == nil {
		p.lastResult = "ok"
		p.rises++
		p.falls = 0
		if first || p.rises >= h.Rise {
			// The peer proved itself: forget passive failures so traffic
			// fails back now rather than after fail_timeout (also after an
			// outage too short for the active state to go down).
			p.activeUp = true
			p.fails, p.downUntil = 0, time.Time{}
		}
	} else {
		p.lastResult = err.Error()
		p.lastError = err.Error()
		p.falls++
		p.rises = 0
		if p.activeUp && (first || p.falls >= h.Fall) {
			p.activeUp = false
		}
	}
	p.refreshLocked(now)
}

// checkAll runs one round on every peer in parallel and waits.
func (u *Upstream) checkAll() { u.checkPeers(func(*Peer) bool { return true }) }

// checkPeers runs one decisive round on the peers selected by want.
func (u *Upstream) checkPeers(want func(*Peer) bool) {
	if u.health == nil {
		return
	}
	done := make(chan struct{}, len(u.peers))
	n := 0
	for _, p := range u.peers {
		if !want(p) {
			continue
		}
		n++
		go func() {
			rtt, err := u.check(u.healthClient(p), p)
			p.record(time.Now(), rtt, err, true)
			if err == nil {
				p.observe(rtt)
			}
			done <- struct{}{}
		}()
	}
	for range n {
		<-done
	}
}

// start launches one check loop per peer and the idle reaper.
func (u *Upstream) start() {
	if u.health != nil {
		for _, p := range u.peers {
			u.healthWG.Add(1)
			go u.checkLoop(p)
		}
	}
	u.healthWG.Add(1)
	go u.reapLoop()
}

func (u *Upstream) checkLoop(p *Peer) {
	defer u.healthWG.Done()
	client := u.healthClient(p)
	// Spread the peers' checks over the interval.
	jitter := time.Duration(rand.Int64N(int64(u.health.Interval)/4 + 1))
	t := time.NewTimer(u.health.Interval + jitter)
	defer t.Stop()
	for {
		select {
		case <-u.healthStop:
			return
		case <-t.C:
		}
		rtt, err := u.check(client, p)
		p.record(time.Now(), rtt, err, false)
		t.Reset(u.health.Interval)
	}
}

func (u *Upstream) reapLoop() {
	defer u.healthWG.Done()
	// Every second at least: a surplus above keepalive is closed about
	// surplusIdle after it was last used.
	every := min(u.keepaliveTO/2, surplusIdle)
	if every < 100*time.Millisecond {
		every = 100 * time.Millisecond
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-u.healthStop:
			return
		case now := <-t.C:
			for _, p := range u.peers {
				p.idle.reap(now, u.keepaliveTO, u.keepalive)
			}
		}
	}
}
