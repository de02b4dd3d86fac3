package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgectl/edgectl/agentconfig"
	"github.com/edgectl/edgectl/proxy"
)

// Agent is one running agent process.
type Agent struct {
	// Version is reported by the health path and /status.
	Version string
	// Log receives the agent's own events (not the access log).
	Log *slog.Logger
	// Stderr is where access_log: stderr goes.
	Stderr io.Writer

	cfg       *agentconfig.Config
	cfgPath   string
	handler   *proxy.Handler
	accessLog *proxy.AccessLog
	started   time.Time
	draining  atomic.Bool

	mu        sync.Mutex
	listeners []*listener
	servers   []io.Closer // admin and metrics servers
	wg        sync.WaitGroup
}

type listener struct {
	addr string // as configured
	ln   net.Listener
	tls  bool
}

// New prepares an agent for the configuration in cfg (read from path).
func New(cfg *agentconfig.Config, path, version string, log *slog.Logger, stderr io.Writer) *Agent {
	return &Agent{cfg: cfg, cfgPath: path, Version: version, Log: log, Stderr: stderr}
}

// Handler exposes the data plane (for tests and the admin API).
func (a *Agent) Handler() *proxy.Handler { return a.handler }

// Addrs returns the bound addresses of the HTTP listeners in configuration
// order (useful with port 0).
func (a *Agent) Addrs() []net.Addr {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]net.Addr, 0, len(a.listeners))
	for _, l := range a.listeners {
		out = append(out, l.ln.Addr())
	}
	return out
}

// Start builds the pools, runs the first round of health checks (so no
// request is routed to a server known to be down), opens every listener and
// starts serving. It returns once the agent is ready.
func (a *Agent) Start(ctx context.Context) error {
	a.started = time.Now()
	table, err := proxy.NewTable(a.cfg, nil)
	if err != nil {
		return err
	}
	table.CheckNow()
	for _, us := range table.Status(time.Now()) {
		for _, p := range us.Peers {
			a.Log.Info("upstream server", "upstream", us.Name, "server", p.Addr, "backup", p.Backup, "state", p.State, "reason", p.Reason)
		}
	}
	table.Start()
	a.handler = proxy.NewHandler(table)
	a.handler.Local = a.local
	if err := a.openAccessLog(); err != nil {
		table.Close()
		return err
	}
	a.handler.Log = a.accessLog
	for _, lc := range a.cfg.Listen {
		if lc.TLS {
			a.closeListeners()
			table.Close()
			return fmt.Errorf("listen %s: tls: true is not supported by this build yet; remove it or use a plain listener", lc.Addr)
		}
		ln, err := Listen(ctx, lc.Addr, a.Log)
		if err != nil {
			a.closeListeners()
			table.Close()
			return err
		}
		a.listeners = append(a.listeners, &listener{addr: lc.Addr, ln: ln, tls: lc.TLS})
		a.Log.Info("listening", "addr", ln.Addr().String(), "configured", lc.Addr)
	}
	if err := a.startAdmin(ctx); err != nil {
		a.closeListeners()
		table.Close()
		return err
	}
	for _, l := range a.listeners {
		a.wg.Add(1)
		go a.serve(l)
	}
	return nil
}

func (a *Agent) openAccessLog() error {
	switch a.cfg.AccessLog {
	case "off":
		return nil
	case "stderr", "":
		a.accessLog = proxy.NewAccessLog(a.Stderr)
	default:
		f, err := os.OpenFile(a.cfg.AccessLog, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
		if err != nil {
			return fmt.Errorf("open access_log: %w", err)
		}
		a.accessLog = proxy.NewAccessLog(f)
	}
	return nil
}

func (a *Agent) serve(l *listener) {
	defer a.wg.Done()
	var delay time.Duration
	for {
		c, err := l.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: back off, keep going.
			if delay == 0 {
				delay = 5 * time.Millisecond
			} else if delay *= 2; delay > time.Second {
				delay = time.Second
			}
			a.Log.Error("accept", "addr", l.addr, "error", err.Error())
			time.Sleep(delay)
			continue
		}
		delay = 0
		go a.handler.ServeConn(c, l.tls)
	}
}

func (a *Agent) closeListeners() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, l := range a.listeners {
		_ = l.ln.Close()
	}
}

// Run starts the agent and serves until ctx is canceled, then drains: the
// health path answers 503 at once, requests are still served for
// drain.delay, then listeners close and in-flight requests get up to
// drain.timeout.
func (a *Agent) Run(ctx context.Context) error {
	if err := a.Start(context.WithoutCancel(ctx)); err != nil {
		return err
	}
	a.Log.Info("agent ready", "version", a.Version, "config", a.cfgPath)
	<-ctx.Done()
	return a.Drain(a.cfg.Drain.Delay, a.cfg.Drain.Timeout)
}

// Drain performs the graceful shutdown described at Run.
func (a *Agent) Drain(delay, timeout time.Duration) error {
	a.Log.Info("draining", "delay", delay.String(), "timeout", timeout.String())
	a.draining.Store(true)
	time.Sleep(delay)
	a.closeListeners()
	a.handler.SetDraining(true)
	done := make(chan struct{})
	go func() { a.handler.Wait(); close(done) }()
	var err error
	select {
	case <-done:
	case <-time.After(timeout):
		err = fmt.Errorf("drain: requests still in flight after %s", timeout)
		a.Log.Warn("drain timeout; closing remaining connections", "timeout", timeout.String())
	}
	a.shutdown()
	return err
}

func (a *Agent) shutdown() {
	a.wg.Wait()
	for _, s := range a.servers {
		_ = s.Close()
	}
	a.handler.Table().Close()
	a.accessLog.Close()
	a.Log.Info("stopped")
}
