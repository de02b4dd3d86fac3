package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"

	"github.com/edgectl/edgectl/agentconfig"
	"github.com/edgectl/edgectl/proxy"
)

// ErrUpgradeUnsupported is returned by Upgrade where sockets cannot be
// handed to a new process (not Linux, or Run was not used).
var ErrUpgradeUnsupported = errors.New("zero-downtime upgrade is not available in this process")

// notify sends a state to systemd when running under Type=notify; it is a
// no-op elsewhere.
func notify(state string) { _, _ = daemon.SdNotify(false, state) }

// Run starts the agent and serves until ctx is canceled (SIGTERM, SIGINT),
// then drains. SIGHUP reloads the configuration; SIGUSR2 (or POST /upgrade)
// starts the binary at the same path as a new process that inherits the
// listening sockets, and once it is ready this one drains and exits.
func (a *Agent) Run(ctx context.Context) error {
	a.inh = loadInherited()
	// Catch SIGHUP and SIGUSR2 before announcing readiness: their default
	// action would kill the process.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGUSR2)
	defer signal.Stop(sigs)
	if err := a.Start(ctx); err != nil {
		return err
	}
	parent := a.inh.hasParent()
	state := "READY=1\nSTATUS=serving"
	if parent {
		// Under systemd the new process becomes the unit's main process
		// (the unit has NotifyAccess=all). This must reach systemd before
		// the old process exits, so it goes before the ready byte.
		state = "MAINPID=" + strconv.Itoa(os.Getpid()) + "\n" + state
	}
	notify(state)
	if err := a.inh.signalReady(); err != nil {
		a.Log.Warn("could not tell the previous process we are ready", "error", err.Error())
	}
	a.Log.Info("agent ready", "version", a.Version, "config", a.cfgPath, "pid", os.Getpid(), "upgraded", parent, "engine", a.handler.Engine())

	for {
		select {
		case <-ctx.Done():
			cfg := a.cfg.Load()
			notify("STOPPING=1\nSTATUS=draining")
			return a.Drain(cfg.Drain.Delay, cfg.Drain.Timeout)
		case <-a.upgraded:
			// The new process accepts on the same sockets already: no delay,
			// and no STOPPING=1: the unit is not stopping, it has a new
			// main process.
			a.Log.Info("new process is ready; draining this one")
			return a.Drain(0, a.cfg.Load().Drain.Timeout)
		case s := <-sigs:
			switch s {
			case syscall.SIGHUP:
				_ = a.Reload(ctx)
			case syscall.SIGUSR2:
				go func() { _ = a.Upgrade() }()
			}
		}
	}
}

// Upgrade starts a new process from the binary at the agent's path, hands
// it the listening sockets and waits until it is ready; Run then drains
// this process. On failure this process keeps serving as if nothing
// happened.
func (a *Agent) Upgrade() error {
	if a.inh == nil {
		return ErrUpgradeUnsupported
	}
	a.upgradeMu.Lock()
	defer a.upgradeMu.Unlock()
	select {
	case <-a.upgraded:
		return errors.New("upgrade: already handed over to a new process")
	default:
	}
	var keys []string
	var lns []net.Listener
	a.mu.Lock()
	for addr, l := range a.listeners {
		keys, lns = append(keys, "tcp "+addr), append(lns, l.ln)
	}
	for addr, sl := range a.streams {
		keys, lns = append(keys, "tcp "+addr), append(lns, sl.ln)
	}
	a.mu.Unlock()
	cfg := a.cfg.Load()
	if a.metricsLn != nil {
		keys, lns = append(keys, "tcp "+cfg.Metrics), append(lns, a.metricsLn)
	}
	if a.adminLn != nil {
		keys, lns = append(keys, "unix "+cfg.Admin), append(lns, a.adminLn)
	}
	a.Log.Info("upgrade: starting a new process", "binary", os.Args[0], "sockets", len(lns))
	notify("STATUS=upgrading")
	if err := startSuccessor(keys, lns); err != nil {
		notify("STATUS=serving")
		a.Log.Error("upgrade failed; this process keeps serving", "error", err.Error())
		return fmt.Errorf("upgrade: %w", err)
	}
	if ul, ok := a.adminLn.(*net.UnixListener); ok {
		ul.SetUnlinkOnClose(false) // the socket file is the new process's now
	}
	close(a.upgraded)
	return nil
}

// Reload reads the configuration file again and applies it atomically. An
// invalid file changes nothing: the error (file:line:col) is logged and
// returned. Listeners that stay are never closed, servers that stay keep
// their health state and idle connections, new listeners open and removed
// ones stop accepting while their connections finish.
func (a *Agent) Reload(ctx context.Context) error {
	a.reloadMu.Lock()
	defer a.reloadMu.Unlock()
	notify("RELOADING=1")
	defer notify("READY=1\nSTATUS=serving")
	err := a.reload(ctx)
	if err != nil {
		msg := err.Error()
		a.lastErr.Store(&msg)
		a.Log.Error("reload rejected; the running configuration is unchanged", "error", msg)
		return err
	}
	a.lastErr.Store(nil)
	a.reloads.Add(1)
	a.Log.Info("configuration reloaded", "config", a.cfgPath)
	return nil
}

func (a *Agent) reload(ctx context.Context) error {
	cfg, err := agentconfig.Load(a.cfgPath)
	if err != nil {
		return err
	}
	old := a.handler.Table()
	table, err := proxy.NewTable(cfg, old)
	if err != nil {
		return err
	}
	markStreamUpstreams(cfg, table)
	table.CheckNew()
	if err := a.openCertStore(cfg); err != nil {
		table.Close()
		return err
	}
	// Open new listeners first: if one fails nothing else changes.
	var opened []string
	for _, lc := range cfg.Listen {
		a.mu.Lock()
		l := a.listeners[lc.Addr]
		a.mu.Unlock()
		if l != nil && l.tls == lc.TLS {
			continue
		}
		if l != nil { // same address, TLS switched: replace it
			a.removeListener(lc.Addr)
		}
		if err := a.addListener(ctx, lc); err != nil {
			for _, addr := range opened {
				a.removeListener(addr)
			}
			table.Close()
			return err
		}
		opened = append(opened, lc.Addr)
	}
	table.Start()
	a.handler.SetTable(table)
	a.conns.set(cfg.Limits.MaxConns, cfg.Limits.MaxConnsPerIP)
	prevCfg := a.cfg.Swap(cfg)
	keep := map[string]bool{}
	for _, lc := range cfg.Listen {
		keep[lc.Addr] = true
	}
	a.mu.Lock()
	var gone []string
	for addr := range a.listeners {
		if !keep[addr] {
			gone = append(gone, addr)
		}
	}
	a.mu.Unlock()
	for _, addr := range gone {
		a.removeListener(addr)
	}
	if err := a.syncStreams(ctx, cfg, table); err != nil {
		a.Log.Error("reload: streams", "error", err.Error())
	}
	if prevCfg.Endpoints != cfg.Endpoints {
		a.swapEndpoints(cfg)
	}
	if prevCfg.ACMEChallengeDir != cfg.ACMEChallengeDir {
		a.acme.Store(newACMEResponder(cfg.ACMEChallengeDir))
	}
	if prevCfg.Admin != cfg.Admin || prevCfg.Metrics != cfg.Metrics || prevCfg.AccessLog != cfg.AccessLog ||
		(a.certs != nil && prevCfg.TLS.CertsDir != cfg.TLS.CertsDir) {
		a.Log.Warn("admin, metrics, access_log and tls.certs_dir changes take effect at the next restart or upgrade")
	}
	old.Close()
	return nil
}

// removeListener stops accepting on addr; its connections finish.
func (a *Agent) removeListener(addr string) {
	a.mu.Lock()
	l := a.listeners[addr]
	delete(a.listeners, addr)
	a.mu.Unlock()
	if l != nil {
		_ = l.ln.Close()
		a.Log.Info("listener closed", "addr", addr)
	}
}

// Drain performs the graceful shutdown: health answers 503 at once,
// requests are still served for delay (clients and balancers move away),
// then listeners close, idle keepalive connections close, WebSockets get a
// close frame 1001 and in-flight requests get up to timeout.
func (a *Agent) Drain(delay, timeout time.Duration) error {
	a.Log.Info("draining", "delay", delay.String(), "timeout", timeout.String())
	a.draining.Store(true)
	if delay > 0 {
		time.Sleep(delay)
	}
	a.closeListeners()
	a.handler.SetDraining(true)
	dctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	go a.goAwayH2(dctx)
	a.handler.CloseTunnels()
	done := make(chan struct{})
	go func() {
		a.handler.Wait()
		// Keepalive connections close within the proxy's drain grace
		// once their last response is out. Exiting before that resets a
		// request a client has just sent on one of them.
		for a.handler.Conns() > 0 && dctx.Err() == nil {
			time.Sleep(5 * time.Millisecond)
		}
		a.drainStreams(dctx)
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-dctx.Done():
		err = fmt.Errorf("drain: requests still in flight after %s", timeout)
		a.Log.Warn("drain timeout; closing remaining connections", "timeout", timeout.String())
	}
	a.shutdown()
	return err
}

func (a *Agent) shutdown() {
	a.wg.Wait()
	for _, s := range a.servers {
		// An admin answer may still be on its way out (POST /upgrade
		// answers after the new process took over): let it finish.
		if hs, ok := s.(*http.Server); ok {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			_ = hs.Shutdown(ctx)
			cancel()
		}
		_ = s.Close()
	}
	a.handler.StopLoops()
	a.handler.Table().Close()
	a.accessLog.Close()
	a.bgCancel()
	a.Log.Info("stopped")
}
