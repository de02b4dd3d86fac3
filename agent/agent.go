package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgectl/edgectl/agentconfig"
	"github.com/edgectl/edgectl/certstore"
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

	cfg       atomic.Pointer[agentconfig.Config]
	cfgPath   string
	handler   *proxy.Handler
	accessLog *proxy.AccessLog
	certs     *certstore.Store
	acme      atomic.Pointer[acmeResponder]
	endpoints atomic.Pointer[endpointsService]
	epCancel  context.CancelFunc
	inh       *inherited    // sockets from the previous process (upgrade)
	upgraded  chan struct{} // closed once a successor is ready
	upgradeMu sync.Mutex
	h2s       h2Servers
	conns     *connLimiter // limits.max_conns and max_conns_per_ip over every listener
	reloadMu  sync.Mutex
	adminLn   net.Listener
	metricsLn net.Listener
	started   time.Time
	draining  atomic.Bool                // health answers 503
	deploy    atomic.Pointer[DeployMark] // set while a deploy changes this host
	bgCtx     context.Context
	bgCancel  context.CancelFunc

	mu        sync.Mutex // listeners, streams, reload
	listeners map[string]*listener
	streams   map[string]*streamListener
	servers   []io.Closer // admin and metrics servers
	wg        sync.WaitGroup
	reloads   atomic.Uint64
	lastErr   atomic.Pointer[string] // last reload error, for /status
}

type listener struct {
	addr string // as configured
	ln   net.Listener
	tls  bool
}

// New prepares an agent for the configuration in cfg (read from path).
func New(cfg *agentconfig.Config, path, version string, log *slog.Logger, stderr io.Writer) *Agent {
	a := &Agent{cfgPath: path, Version: version, Log: log, Stderr: stderr,
		listeners: map[string]*listener{}, streams: map[string]*streamListener{},
		upgraded: make(chan struct{})}
	a.cfg.Store(cfg)
	return a
}

// Config returns the configuration in force.
func (a *Agent) Config() *agentconfig.Config { return a.cfg.Load() }

// Handler exposes the data plane (for tests and the admin API).
func (a *Agent) Handler() *proxy.Handler { return a.handler }

// Addrs returns the bound addresses of the HTTP listeners, sorted by the
// configured address.
func (a *Agent) Addrs() []net.Addr {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]net.Addr, 0, len(a.listeners))
	for _, lc := range a.cfg.Load().Listen {
		if l := a.listeners[lc.Addr]; l != nil {
			out = append(out, l.ln.Addr())
		}
	}
	return out
}

// listen opens (or, after an upgrade, inherits) a TCP listener.
func (a *Agent) listen(ctx context.Context, addr string) (net.Listener, error) {
	return a.inh.listen("tcp", addr, func() (net.Listener, error) { return Listen(ctx, addr, a.Log) })
}

// Start builds the pools, runs the first round of health checks (so no
// request is routed to a server known to be down), opens every listener and
// starts serving. It returns once the agent is ready.
func (a *Agent) Start(ctx context.Context) (err error) {
	a.started = time.Now()
	a.bgCtx, a.bgCancel = context.WithCancel(context.WithoutCancel(ctx))
	cfg := a.cfg.Load()
	table, err := proxy.NewTable(cfg, nil)
	if err != nil {
		return err
	}
	markStreamUpstreams(cfg, table)
	table.CheckNow()
	for _, us := range table.Status(time.Now()) {
		for _, p := range us.Peers {
			a.Log.Info("upstream server", "upstream", us.Name, "server", p.Addr, "backup", p.Backup, "state", p.State, "reason", p.Reason)
		}
	}
	table.Start()
	a.conns = newConnLimiter(cfg.Limits.MaxConns, cfg.Limits.MaxConnsPerIP)
	a.handler = proxy.NewHandler(table)
	a.handler.Local = a.local
	a.handler.OnHoldEnd = a.logHoldEnd
	defer func() {
		if err != nil {
			a.closeListeners()
			a.handler.StopLoops()
			table.Close()
			a.bgCancel()
		}
	}()
	if err := a.openAccessLog(cfg); err != nil {
		return err
	}
	a.handler.Log = a.accessLog
	if err := a.chooseEngine(os.Getenv("EDGECTL_ENGINE")); err != nil {
		return err
	}
	a.acme.Store(newACMEResponder(cfg.ACMEChallengeDir))
	a.swapEndpoints(cfg)
	if err := a.openCertStore(cfg); err != nil {
		return err
	}
	for _, lc := range cfg.Listen {
		if err := a.addListener(ctx, lc); err != nil {
			return err
		}
	}
	if err := a.syncStreams(ctx, cfg, table); err != nil {
		return err
	}
	return a.startAdmin(ctx, cfg)
}

func (a *Agent) openCertStore(cfg *agentconfig.Config) error {
	needTLS := false
	for _, l := range cfg.Listen {
		needTLS = needTLS || l.TLS
	}
	if !needTLS || a.certs != nil {
		return nil
	}
	store, err := certstore.Open(cfg.TLS.CertsDir, a.Log)
	if err != nil {
		return fmt.Errorf("tls: %w", err)
	}
	a.certs = store
	go store.Watch(a.bgCtx, time.Second)
	return nil
}

// addListener opens lc and starts accepting on it.
func (a *Agent) addListener(ctx context.Context, lc agentconfig.Listener) error {
	raw, err := a.listen(ctx, lc.Addr)
	if err != nil {
		return err
	}
	kind := kindHTTP
	if lc.TLS {
		kind = kindTLS
	}
	ln := a.conns.wrap(raw, kind)
	l := &listener{addr: lc.Addr, ln: ln, tls: lc.TLS}
	a.mu.Lock()
	a.listeners[lc.Addr] = l
	a.mu.Unlock()
	a.Log.Info("listening", "addr", ln.Addr().String(), "configured", lc.Addr, "tls", lc.TLS)
	a.wg.Add(1)
	go a.serve(l)
	return nil
}

func (a *Agent) openAccessLog(cfg *agentconfig.Config) error {
	switch cfg.AccessLog {
	case "off":
		return nil
	case "stderr", "":
		a.accessLog = proxy.NewAccessLog(a.Stderr)
	default:
		f, err := os.OpenFile(cfg.AccessLog, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
		if err != nil {
			return fmt.Errorf("open access_log: %w", err)
		}
		a.accessLog = proxy.NewAccessLog(f)
	}
	return nil
}

// chooseEngine sets up the engine for plain HTTP listeners: the event
// loops on Linux (the default, or "loops"), or a goroutine per connection
// ("goroutines"), the fallback an operator can switch to with
// EDGECTL_ENGINE in the unit's environment.
func (a *Agent) chooseEngine(engine string) error {
	switch engine {
	case "", "loops":
		if runtime.GOOS != "linux" && engine == "" {
			return nil
		}
		// A loop per CPU the runtime would use, and one P more for
		// everything else (TLS, HTTP/2, health checks): see
		// proxy.EnableLoops.
		n := loopCPUs()
		if err := a.handler.EnableLoops(n); err != nil {
			return fmt.Errorf("EDGECTL_ENGINE=%s: %w", engine, err)
		}
		runtime.GOMAXPROCS(n + 1)
	case "goroutines":
	default:
		return fmt.Errorf("EDGECTL_ENGINE=%s: unknown engine (want loops or goroutines)", engine)
	}
	return nil
}

// loopCPUs is GOMAXPROCS as the process started with it (the CPUs it may
// use), before the agent raised it for its loops.
var loopCPUs = sync.OnceValue(func() int { return runtime.GOMAXPROCS(0) })

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
		if l.tls {
			go a.serveTLS(c)
		} else {
			a.handler.ServePlain(c)
		}
	}
}

func (a *Agent) closeListeners() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, l := range a.listeners {
		_ = l.ln.Close()
	}
	for _, s := range a.streams {
		_ = s.ln.Close()
	}
}

// swapEndpoints starts serving the endpoints list described by cfg.
func (a *Agent) swapEndpoints(cfg *agentconfig.Config) {
	ep := newEndpointsService(cfg.Endpoints, a.Log)
	if err := ep.load(); err != nil {
		// No file at the default path means the feature is not used: no
		// warning for it.
		lvl := slog.LevelWarn
		if errors.Is(err, fs.ErrNotExist) && cfg.Endpoints.File == agentconfig.DefaultEndpointsFile {
			lvl = slog.LevelDebug
		}
		a.Log.Log(context.Background(), lvl, "endpoints list not served yet", "file", cfg.Endpoints.File, "error", err.Error())
	}
	ctx, cancel := context.WithCancel(a.bgCtx)
	go ep.watch(ctx, time.Second)
	a.endpoints.Store(ep)
	if a.epCancel != nil {
		a.epCancel()
	}
	a.epCancel = cancel
}
