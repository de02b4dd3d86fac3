package provision

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/edgectl/edgectl/agentconfig"
	"github.com/edgectl/edgectl/probe"
	"github.com/edgectl/edgectl/remote"
)

// Gate is the health check a host must pass after a change: the agent's
// health on the host's own [::1] and 127.0.0.1 (dialled through SSH), every
// upstream with all its servers live, the backend's health URL, and the
// host's public addresses answering from the operator's side. Each family
// is its own check; none falls back to the other.
type Gate struct {
	// Scheme and Port of the agent listener probed; Path its health path.
	Scheme string
	Port   int
	Path   string
	// Loopback6 is false on a host without ::1 (skip the [::1] probe).
	Loopback6 bool
	// Public lists the host's public addresses (IPv4 and/or IPv6).
	Public []string
	// Backend is the backend's health URL, probed from the host ("" = none).
	Backend string
	// Timeout bounds the whole gate; Interval is the poll period.
	Timeout, Interval time.Duration
	// ProbeTimeout bounds one probe (default 2s).
	ProbeTimeout time.Duration
	// Local dials from the operator's machine (nil = net.Dialer).
	Local probe.DialFunc
}

// NewGate builds the gate for an agent config and a host's addresses.
func NewGate(cfg *agentconfig.Config, facts Facts, public []string, backendHealth string, timeout time.Duration) Gate {
	g := Gate{Scheme: "http", Path: cfg.HealthPath, Loopback6: facts.Loopback6, Public: public,
		Backend: backendHealth, Timeout: timeout, Interval: 500 * time.Millisecond}
	// Prefer a plain listener: a TLS one may have no certificate yet.
	for _, tls := range []bool{false, true} {
		for _, l := range cfg.Listen {
			if l.TLS != tls {
				continue
			}
			if _, p, err := net.SplitHostPort(l.Addr); err == nil {
				if n, err := strconv.Atoi(p); err == nil && g.Port == 0 {
					g.Port = n
					if tls {
						g.Scheme = "https"
					}
				}
			}
		}
	}
	return g
}

// GateError lists the checks that still failed when the gate gave up.
type GateError struct {
	Timeout  time.Duration
	Failures []string
}

func (e *GateError) Error() string {
	return fmt.Sprintf("not healthy after %s: %s", e.Timeout, strings.Join(e.Failures, "; "))
}

// Wait polls until every check passes or the timeout passes.
func (g Gate) Wait(ctx context.Context, h remote.Host) error {
	ctx, cancel := context.WithTimeout(ctx, g.Timeout)
	defer cancel()
	for {
		fails := g.Check(ctx, h)
		if len(fails) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return &GateError{Timeout: g.Timeout, Failures: fails}
		case <-time.After(g.Interval):
		}
	}
}

// Check runs every probe once, concurrently, and returns the failures.
func (g Gate) Check(ctx context.Context, h remote.Host) []string {
	type job struct {
		what string
		run  func() string
	}
	var jobs []job
	onHost := []string{"127.0.0.1"}
	if g.Loopback6 {
		onHost = append([]string{"::1"}, onHost...)
	}
	for _, ip := range onHost {
		addr := net.JoinHostPort(ip, strconv.Itoa(g.Port))
		jobs = append(jobs, job{"agent on " + addr, func() string {
			return g.agentHealth(ctx, probe.Request{Addr: addr, Scheme: g.Scheme, Path: g.Path, Dial: h.DialContext})
		}})
	}
	for _, ip := range g.Public {
		addr := net.JoinHostPort(ip, strconv.Itoa(g.Port))
		jobs = append(jobs, job{"public " + addr, func() string {
			r := probe.Do(ctx, probe.Request{Addr: addr, Scheme: g.Scheme, Path: g.Path, Timeout: g.ProbeTimeout, Dial: g.Local})
			return describe(r)
		}})
	}
	if g.Backend != "" {
		jobs = append(jobs, job{"backend " + g.Backend, func() string { return g.backendHealth(ctx, h) }})
	}
	out := make([]string, len(jobs))
	done := make(chan struct{}, len(jobs))
	for i, j := range jobs {
		go func() {
			if msg := j.run(); msg != "" {
				out[i] = j.what + ": " + msg
			}
			done <- struct{}{}
		}()
	}
	for range jobs {
		<-done
	}
	var fails []string
	for _, s := range out {
		if s != "" {
			fails = append(fails, s)
		}
	}
	return fails
}

// agentHealth probes the agent's health path and reads its JSON: every
// upstream must have all its servers live.
func (g Gate) agentHealth(ctx context.Context, req probe.Request) string {
	req.Timeout = g.ProbeTimeout
	r := probe.Do(ctx, req)
	if msg := describe(r); msg != "" {
		return msg
	}
	var body struct {
		Status    string `json:"status"`
		Upstreams map[string]struct {
			Live, Total int
		} `json:"upstreams"`
	}
	if err := json.Unmarshal(r.Body, &body); err != nil {
		return "health answer is not the agent's JSON: " + err.Error()
	}
	var bad []string
	for name, u := range body.Upstreams {
		if u.Live < u.Total {
			bad = append(bad, fmt.Sprintf("%s %d/%d servers live", name, u.Live, u.Total))
		}
	}
	sort.Strings(bad)
	if len(bad) > 0 {
		return "upstream " + strings.Join(bad, ", ")
	}
	return ""
}

func (g Gate) backendHealth(ctx context.Context, h remote.Host) string {
	u, err := url.Parse(g.Backend)
	if err != nil {
		return err.Error()
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	r := probe.Do(ctx, probe.Request{Addr: net.JoinHostPort(u.Hostname(), port), Scheme: u.Scheme,
		Path: u.RequestURI(), Timeout: g.ProbeTimeout, Dial: h.DialContext})
	return describe(r)
}

// describe is "" for a 2xx and a short reason otherwise.
func describe(r probe.Result) string {
	if r.Err != nil {
		return fmt.Sprintf("%s (%v)", r.Kind, r.Err)
	}
	if r.Status < 200 || r.Status > 299 {
		return fmt.Sprintf("HTTP %d %s", r.Status, strings.TrimSpace(string(firstLine(r.Body))))
	}
	return ""
}

func firstLine(b []byte) []byte {
	if i := strings.IndexByte(string(b), '\n'); i >= 0 {
		b = b[:i]
	}
	if len(b) > 120 {
		b = b[:120]
	}
	return b
}
