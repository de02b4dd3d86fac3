package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/edgectl/edgectl/proxy"
)

// Status is the admin API's GET /status answer.
type Status struct {
	Version     string                 `json:"version"`
	PID         int                    `json:"pid"`
	Started     time.Time              `json:"started"`
	Draining    bool                   `json:"draining"`
	Config      string                 `json:"config"`
	Listeners   []string               `json:"listeners"`
	Connections int64                  `json:"connections"`
	Upstreams   []proxy.UpstreamStatus `json:"upstreams"`
}

// Status snapshots the agent.
func (a *Agent) Status() Status {
	s := Status{
		Version: a.Version, PID: os.Getpid(), Started: a.started, Draining: a.draining.Load(),
		Config: a.cfgPath, Connections: a.handler.Conns(),
		Upstreams: a.handler.Table().Status(time.Now()),
	}
	for _, addr := range a.Addrs() {
		s.Listeners = append(s.Listeners, addr.String())
	}
	return s
}

func (a *Agent) adminMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(a.Status())
	})
	mux.HandleFunc("GET /metrics", a.metrics)
	return mux
}

func (a *Agent) metrics(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	_ = a.handler.WriteMetrics(w)
}

// startAdmin opens the admin unix socket and the optional metrics listener.
func (a *Agent) startAdmin(ctx context.Context) error {
	if a.cfg.Admin != "" {
		path := a.cfg.Admin
		if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
			return fmt.Errorf("admin socket: %w", err)
		}
		// A socket left by a crashed agent is removed; a live one is not.
		if c, err := net.DialTimeout("unix", path, 200*time.Millisecond); err == nil {
			_ = c.Close()
			return fmt.Errorf("admin socket %s: another agent is running there", path)
		}
		_ = os.Remove(path)
		ln, err := (&net.ListenConfig{}).Listen(ctx, "unix", path)
		if err != nil {
			return fmt.Errorf("admin socket: %w", err)
		}
		if err := os.Chmod(path, 0o660); err != nil {
			_ = ln.Close()
			return fmt.Errorf("admin socket: %w", err)
		}
		a.serveHTTP(ln, a.adminMux())
	}
	if a.cfg.Metrics != "" {
		ln, err := Listen(ctx, a.cfg.Metrics, a.Log)
		if err != nil {
			return fmt.Errorf("metrics listener: %w", err)
		}
		mux := http.NewServeMux()
		mux.HandleFunc("GET /metrics", a.metrics)
		a.serveHTTP(ln, mux)
	}
	return nil
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
