package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/edgectl/edgectl/agentconfig"
	"github.com/edgectl/edgectl/certstore"
	"github.com/edgectl/edgectl/proxy"
)

// Status is the admin API's GET /status answer.
type Status struct {
	Version  string    `json:"version"`
	PID      int       `json:"pid"`
	Started  time.Time `json:"started"`
	Draining bool      `json:"draining"`
	Config   string    `json:"config"`
	// ConfigSHA256 is the SHA-256 of the config file as the agent last
	// loaded it (at start or by a reload): deploy compares it with the
	// file it installed.
	ConfigSHA256 string `json:"config_sha256"`
	// Deploy is set while a deploy says it is changing this host.
	Deploy      *DeployMark    `json:"deploy,omitempty"`
	Reloads     uint64         `json:"reloads"`
	ReloadError string         `json:"reload_error,omitempty"`
	Listeners   []string       `json:"listeners"`
	Streams     []StreamStatus `json:"streams"`
	Connections int64          `json:"connections"`
	// Engine serves the plain HTTP listeners: "loops" or "goroutines".
	Engine    string                 `json:"engine"`
	Upstreams []proxy.UpstreamStatus `json:"upstreams"`
	Certs     []certstore.CertStatus `json:"certificates"`
	Endpoints *EndpointsStatus       `json:"endpoints,omitempty"`
}

// DeployMark is what `edgectl deploy` tells the agent (POST /deploy on the
// admin socket) while it changes the host, so that health answers and
// sweeps can tell a deploy from an outage. It lasts until DELETE /deploy,
// the agent's exit, or is reported overdue after MaxMS.
type DeployMark struct {
	// Holder is user@machine of the deploy, Command its command line.
	Holder  string `json:"holder"`
	Command string `json:"command"`
	// MaxMS is the deploy's maximum time; Since when the mark was set
	// (the agent's clock) and AgeMS how long ago.
	MaxMS int64     `json:"max_ms"`
	Since time.Time `json:"since"`
	AgeMS int64     `json:"age_ms"`
}

func (a *Agent) deployMark() *DeployMark {
	m := a.deploy.Load()
	if m == nil {
		return nil
	}
	c := *m
	c.AgeMS = time.Since(c.Since).Milliseconds()
	return &c
}

// StreamStatus is one L4 listener in /status.
type StreamStatus struct {
	Listen      string `json:"listen"`
	Upstream    string `json:"upstream"`
	Connections int64  `json:"connections"`
}

// Status snapshots the agent.
func (a *Agent) Status() Status {
	s := Status{
		Version: a.Version, PID: os.Getpid(), Started: a.started, Draining: a.draining.Load(),
		Config: a.cfgPath, ConfigSHA256: a.cfg.Load().SHA256, Deploy: a.deployMark(),
		Connections: a.handler.Conns(), Engine: a.handler.Engine(), Reloads: a.reloads.Load(),
		Upstreams: a.handler.Table().Status(time.Now()),
		Listeners: []string{}, Streams: []StreamStatus{}, Certs: []certstore.CertStatus{},
	}
	if e := a.lastErr.Load(); e != nil {
		s.ReloadError = *e
	}
	for _, addr := range a.Addrs() {
		s.Listeners = append(s.Listeners, addr.String())
	}
	a.mu.Lock()
	for _, sl := range a.streams {
		s.Streams = append(s.Streams, StreamStatus{Listen: sl.ln.Addr().String(), Upstream: sl.cfg.Upstream, Connections: sl.sp.Conns()})
	}
	a.mu.Unlock()
	sort.Slice(s.Streams, func(i, j int) bool { return s.Streams[i].Listen < s.Streams[j].Listen })
	if a.certs != nil {
		s.Certs = a.certs.Status()
	}
	if ep := a.endpoints.Load(); ep != nil {
		st := ep.status()
		s.Endpoints = &st
	}
	return s
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func (a *Agent) adminMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, 200, a.Status())
	})
	mux.HandleFunc("GET /metrics", a.metrics)
	mux.HandleFunc("POST /reload", func(w http.ResponseWriter, r *http.Request) {
		if err := a.Reload(r.Context()); err != nil {
			writeJSON(w, http.StatusUnprocessableEntity, map[string]string{"status": "rejected", "error": err.Error()})
			return
		}
		writeJSON(w, 200, map[string]any{"status": "reloaded", "reloads": a.reloads.Load()})
	})
	mux.HandleFunc("POST /upgrade", func(w http.ResponseWriter, _ *http.Request) {
		if err := a.Upgrade(); err != nil {
			code := http.StatusInternalServerError
			if errors.Is(err, ErrUpgradeUnsupported) {
				code = http.StatusNotImplemented
			}
			writeJSON(w, code, map[string]string{"status": "failed", "error": err.Error()})
			return
		}
		writeJSON(w, 200, map[string]any{"status": "upgraded", "old_pid": os.Getpid()})
	})
	// POST /drain makes the health path answer 503 so clients and balancers
	// move away while the agent keeps serving; DELETE /drain undoes it.
	mux.HandleFunc("POST /drain", func(w http.ResponseWriter, _ *http.Request) {
		a.draining.Store(true)
		writeJSON(w, 200, map[string]string{"status": "draining"})
	})
	mux.HandleFunc("DELETE /drain", func(w http.ResponseWriter, _ *http.Request) {
		a.draining.Store(false)
		writeJSON(w, 200, map[string]string{"status": "serving"})
	})
	// POST /deploy marks the agent as being deployed (body: holder,
	// command, max_ms); DELETE /deploy clears the mark.
	mux.HandleFunc("POST /deploy", func(w http.ResponseWriter, r *http.Request) {
		var m DeployMark
		if err := json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&m); err != nil || m.MaxMS <= 0 {
			writeJSON(w, http.StatusBadRequest, map[string]string{"status": "rejected", "error": "want JSON with holder, command and max_ms > 0"})
			return
		}
		m.Since, m.AgeMS = time.Now(), 0
		a.deploy.Store(&m)
		writeJSON(w, 200, map[string]string{"status": "deploying"})
	})
	mux.HandleFunc("DELETE /deploy", func(w http.ResponseWriter, _ *http.Request) {
		a.deploy.Store(nil)
		writeJSON(w, 200, map[string]string{"status": "serving"})
	})
	a.holdRoutes(mux)
	return mux
}

func (a *Agent) metrics(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	_ = a.handler.WriteMetrics(w)
}

// startAdmin opens the admin unix socket and the optional metrics listener.
// Across a binary upgrade the socket is inherited like the listeners.
func (a *Agent) startAdmin(ctx context.Context, cfg *agentconfig.Config) error {
	if cfg.Admin != "" {
		ln, err := a.listenAdmin(ctx, cfg.Admin)
		if err != nil {
			return err
		}
		a.adminLn = ln
		a.serveHTTP(ln, a.adminMux())
	}
	if cfg.Metrics != "" {
		ln, err := a.listen(ctx, cfg.Metrics)
		if err != nil {
			return fmt.Errorf("metrics listener: %w", err)
		}
		a.metricsLn = ln
		mux := http.NewServeMux()
		mux.HandleFunc("GET /metrics", a.metrics)
		a.serveHTTP(ln, mux)
	}
	return nil
}

func (a *Agent) listenAdmin(ctx context.Context, path string) (net.Listener, error) {
	create := func() (net.Listener, error) {
		if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
			return nil, fmt.Errorf("admin socket: %w", err)
		}
		// A socket left by a crashed agent is removed; a live one is not.
		if c, err := net.DialTimeout("unix", path, 200*time.Millisecond); err == nil {
			_ = c.Close()
			return nil, fmt.Errorf("admin socket %s: another agent is running there", path)
		}
		_ = os.Remove(path)
		ln, err := (&net.ListenConfig{}).Listen(ctx, "unix", path)
		if err != nil {
			return nil, fmt.Errorf("admin socket: %w", err)
		}
		if err := os.Chmod(path, 0o660); err != nil {
			_ = ln.Close()
			return nil, fmt.Errorf("admin socket: %w", err)
		}
		return ln, nil
	}
	return a.inh.listen("unix", path, create)
}

func (a *Agent) serveHTTP(ln net.Listener, h http.Handler) {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	a.servers = append(a.servers, srv)
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.Log.Error("admin server", "addr", ln.Addr().String(), "error", err.Error())
		}
	}()
}
