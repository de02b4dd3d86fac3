package provision

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/edgectl/edgectl/agentconfig"
	"github.com/edgectl/edgectl/probe"
	"github.com/edgectl/edgectl/remote"
)

// Gate is the health check a host must pass after a change: the agent's
// health on the host's own [::1] and 127.0.0.1 (dialled through SSH), every
// upstream with all its servers live, the config the agent runs, the
// backend's health URL and unit, and the host's public addresses answering
// from the operator's side. Each family is its own check; none falls back
// to the other.
//
// The gate judges the host, not the transport: a round in which the host
// cannot be reached over SSH decides nothing, and the time the connection
// is down (up to Reconnect) does not count against Timeout; the connection
// is checked and dialled again when the host is a remote.Redialer. A unit
// that failed its start or that systemd restarts in a loop fails the gate
// at once.
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
	// BackendUnit is the backend's unit ("" = none); BackendBaseline its
	// NRestarts when this run restarted it (-1: take the first round's).
	BackendUnit     string
	BackendBaseline int
	// Binary and Admin let the gate ask the agent which config it runs;
	// ConfigSHA256 is the config it must run ("" = not checked).
	Binary, Admin, ConfigSHA256 string
	// Timeout bounds the time the host is judged; Interval is the poll
	// period; Reconnect how long the host may stay unreachable over SSH.
	Timeout, Interval, Reconnect time.Duration
	// ProbeTimeout bounds one probe (default 2s).
	ProbeTimeout time.Duration
	// Local dials from the operator's machine (nil = net.Dialer).
	Local probe.DialFunc
}

// DefaultReconnect is how long a gate or rollback waits for a host it
// cannot reach over SSH.
const DefaultReconnect = 60 * time.Second

// NewGate builds the gate for an agent config and a host's addresses.
func NewGate(cfg *agentconfig.Config, facts Facts, public []string, backendHealth string, timeout time.Duration) Gate {
	g := Gate{Scheme: "http", Path: cfg.HealthPath, Loopback6: facts.Loopback6, Public: public,
		Backend: backendHealth, Timeout: timeout, Interval: 500 * time.Millisecond, BackendBaseline: -1,
		Admin: cfg.Admin, Reconnect: DefaultReconnect}
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

// checker is a connection that can be checked and dialled again
// (remote.Redialer).
type checker interface {
	Check(ctx context.Context, timeout time.Duration) error
}

// Wait polls until every check passes, a unit fails, the time is up, or
// stop is done (ErrStopped).
func (g Gate) Wait(ctx context.Context, h remote.Host, stop context.Context) error {
	if g.ProbeTimeout <= 0 {
		g.ProbeTimeout = 2 * time.Second
	}
	if g.Reconnect <= 0 {
		g.Reconnect = DefaultReconnect
	}
	if stop == nil {
		stop = context.Background()
	}
	start := time.Now()
	var downTotal time.Duration
	var downSince time.Time
	var last []string
	var lastDown error
	baseline := g.BackendBaseline
	for {
		if stop.Err() != nil {
			return ErrStopped
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%w during the gate (last: %s)", ErrRunTimeout, strings.Join(last, "; "))
		}
		r := g.round(ctx, h, &baseline)
		now := time.Now()
		switch {
		case r.down != nil:
			if downSince.IsZero() {
				downSince = now
			}
			lastDown = r.down
			if c, ok := h.(checker); ok {
				_ = c.Check(ctx, 3*time.Second)
			}
			if now.Sub(downSince) > g.Reconnect {
				return &GateError{Unreachable: fmt.Sprintf("no working SSH connection to the host for %s (%v)", now.Sub(downSince).Round(time.Second), lastDown), Failures: last}
			}
		case r.fatal != "":
			return &GateError{Fatal: r.fatal, Failures: r.fails}
		case len(r.fails) == 0:
			return nil
		default:
			last = r.fails
			if !downSince.IsZero() {
				downTotal += now.Sub(downSince)
				downSince = time.Time{}
			}
		}
		used := now.Sub(start) - downTotal
		if !downSince.IsZero() {
			used -= now.Sub(downSince)
		}
		if used >= g.Timeout && downSince.IsZero() {
			return &GateError{Timeout: g.Timeout, Failures: last}
		}
		select {
		case <-stop.Done():
			return ErrStopped
		case <-ctx.Done():
		case <-time.After(g.Interval):
		}
	}
}

// roundResult is one round of checks: down when the host could not be
// asked at all, fatal when a unit will not come up, else the failures.
type roundResult struct {
	down  error
	fatal string
	fails []string
}

// round asks systemd and the agent about the host, then probes.
func (g Gate) round(ctx context.Context, h remote.Host, baseline *int) roundResult {
	var r roundResult
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	res, err := h.Run(rctx, g.unitScript(), nil)
	cancel()
	if err != nil && remote.ExitCode(err) < 0 {
		r.down = err
		return r
	}
	s := sections(res.Stdout)
	agent := parseUnitState(s["agent"])
	if why := agent.Failing(1 << 30); why != "" {
		r.fatal = fmt.Sprintf("the agent (%s) %s", AgentUnitName, why)
		return r
	}
	if g.BackendUnit != "" {
		b := parseUnitState(s["backend"])
		if *baseline < 0 {
			*baseline = b.NRestarts
		}
		if why := b.Failing(*baseline); why != "" {
			r.fatal = fmt.Sprintf("the backend (%s) %s", g.BackendUnit, why)
			return r
		}
	}
	if g.ConfigSHA256 != "" {
		var a AgentFacts
		if st := strings.TrimSpace(s["status"]); st != "" && json.Unmarshal([]byte(st), &a) == nil &&
			a.ConfigSHA256 != "" && a.ConfigSHA256 != g.ConfigSHA256 {
			r.fails = append(r.fails, fmt.Sprintf("the agent runs config %s, not the installed %s", short(a.ConfigSHA256), short(g.ConfigSHA256)))
		}
	}
	fails, down := g.probes(ctx, h)
	if down != nil {
		r.down = down
		return r
	}
	r.fails = append(r.fails, fails...)
	return r
}

// unitScript asks for the units' states and the agent's status.
func (g Gate) unitScript() string {
	var b strings.Builder
	b.WriteString("echo '::agent'\n" + unitStateCmd(AgentUnitName) + "\n")
	if g.BackendUnit != "" {
		b.WriteString("echo\necho '::backend'\n" + unitStateCmd(g.BackendUnit) + "\n")
	}
	if g.ConfigSHA256 != "" && g.Admin != "" && g.Binary != "" {
		q := remote.ShellQuote
		fmt.Fprintf(&b, "echo\necho '::status'\n%s agent status --json --admin %s 2>/dev/null\n", q(g.Binary), q(g.Admin))
	}
	b.WriteString("echo\necho '::end'\n")
	return b.String()
}

// Check runs every probe once, concurrently, and returns the failures.
func (g Gate) Check(ctx context.Context, h remote.Host) []string {
	fails, down := g.probes(ctx, h)
	if down != nil {
		return append(fails, "SSH connection: "+down.Error())
	}
	return fails
}

// gateLogs collects the journal tails that explain a failed gate: the
// backend's when it is involved, the agent's when its checks failed.
func gateLogs(ctx context.Context, h remote.Host, g Gate, err *GateError) map[string]string {
	text := err.Error() + " " + strings.Join(err.Failures, " ")
	logs := map[string]string{}
	if g.BackendUnit != "" && (strings.Contains(text, "backend") || strings.Contains(text, "upstream")) {
		if t := journalTail(ctx, h, g.BackendUnit); t != "" {
			logs[g.BackendUnit] = t
		}
	}
	if strings.Contains(text, "agent") {
		if t := journalTail(ctx, h, AgentUnitName); t != "" {
			logs[AgentUnitName] = t
		}
	}
	return logs
}
