package diagnose

import "time"

// Options say what to diagnose and how. The zero value finds the proxy by
// itself: the agent's configuration at /etc/edgectl/agent.yaml, else nginx
// through `nginx -T`.
type Options struct {
	// Port is the backend's port: probed on [::1] and 127.0.0.1. With
	// Config or Nginx it is the port the backend is expected on: an
	// upstream on another port where nothing listens is a wrong port.
	Port int
	// URL is the backend's health URL, e.g. http://[::1]:8000/health; its
	// path replaces the health path of every upstream.
	URL string
	// Config is the agent's configuration file on the host.
	Config string
	// Nginx diagnoses nginx, whose configuration comes from `nginx -T`.
	Nginx bool
	// NginxBin is the nginx binary (default "nginx").
	NginxBin string
	// NginxConf is passed to nginx as -c when set.
	NginxConf string
	// NginxPrefix is passed as -p when set; it also resolves relative
	// error_log paths (default /usr/share/nginx).
	NginxPrefix string
	// ErrorLog overrides the proxy's error log path.
	ErrorLog string
	// HealthPath is probed on the backend when nothing else says which
	// path (default /health).
	HealthPath string
	// Expect names the program that should own the backend port: a
	// substring of its executable path or command line ("uvicorn",
	// "/opt/mop/venv/bin/python").
	Expect string
	// Units are systemd units to check in addition to those found from
	// the port owners' cgroups.
	Units []string
	// ProbeTimeout bounds every probe, and so the whole run (default 2s).
	ProbeTimeout time.Duration
	// KeepaliveWait caps how long an idle keepalive connection to the
	// backend is watched (default 500ms, at most ProbeTimeout). Longer
	// waits catch longer idle timeouts at the cost of a slower run.
	KeepaliveWait time.Duration
	// LogLines is how many trailing error-log lines are read (default 5000).
	LogLines int
	// LogWindow keeps error-log entries this recent (default 1h).
	LogWindow time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Validate reports options that make no sense together: ErrConfigAndNginx,
// a *PortError or ErrNegativeTimeout.
func (o *Options) Validate() error {
	if o.Config != "" && o.Nginx {
		return ErrConfigAndNginx
	}
	if o.Port < 0 || o.Port > 65535 {
		return &PortError{Port: o.Port}
	}
	if o.ProbeTimeout < 0 || o.KeepaliveWait < 0 {
		return ErrNegativeTimeout
	}
	return nil
}

func (o *Options) defaults() {
	if o.NginxBin == "" {
		o.NginxBin = "nginx"
	}
	if o.HealthPath == "" {
		o.HealthPath = "/health"
	}
	if o.ProbeTimeout == 0 {
		o.ProbeTimeout = 2 * time.Second
	}
	if o.KeepaliveWait == 0 {
		o.KeepaliveWait = 500 * time.Millisecond
	}
	o.KeepaliveWait = min(o.KeepaliveWait, o.ProbeTimeout)
	if o.LogLines == 0 {
		o.LogLines = 5000
	}
	if o.LogWindow == 0 {
		o.LogWindow = time.Hour
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}
