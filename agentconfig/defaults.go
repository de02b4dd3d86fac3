package agentconfig

import "time"

// Defaults of agent.yaml (docs/agent.md). Upstream defaults follow the nginx
// upstream that install.sh used to write, with keepalive on; limits follow
// nginx's and HAProxy's (see the Limits field docs for which).
const (
	DefaultAdmin            = "/run/edgectl/agent.sock"
	DefaultHealthPath       = "/health"
	DefaultCertsDir         = "/etc/edgectl/certs"
	DefaultACMEDir          = "/var/lib/edgectl/acme"
	DefaultEndpointsFile    = "/etc/edgectl/endpoints.txt"
	DefaultEndpointsPath    = "/api/v1/config/endpoints"
	DefaultDrainDelay       = 5 * time.Second
	DefaultDrainTimeout     = 30 * time.Second
	DefaultMaxFails         = 3
	DefaultFailTimeout      = 30 * time.Second
	DefaultTries            = 2
	DefaultKeepalive        = 32
	DefaultKeepaliveTimeout = 60 * time.Second
	DefaultConnectTimeout   = 3 * time.Second
	DefaultResponseTimeout  = 60 * time.Second
	DefaultReadTimeout      = 60 * time.Second
	DefaultHeaderTimeout    = 10 * time.Second
	DefaultBodyTimeout      = 60 * time.Second
	DefaultSendTimeout      = 60 * time.Second
	DefaultIdleTimeout      = 75 * time.Second
	DefaultMaxConns         = 10000
	DefaultH2MaxStreams     = 100
	DefaultHealthInterval   = 2 * time.Second
	DefaultHealthTimeout    = 2 * time.Second
	DefaultRise             = 2
	DefaultFall             = 3
)

// applyDefaults fills every unset field. Admin is only defaulted when the
// key is absent from the file, so `admin: ""` turns it off; likewise an
// explicit `drain: {delay: 0s}` means no delay. present reports whether a
// dotted path was written in the file.
func (c *Config) applyDefaults(present func(path string) bool) {
	if len(c.Listen) == 0 {
		c.Listen = []Listener{{Addr: "[::]:80"}}
	}
	if !present("admin") {
		c.Admin = DefaultAdmin
	}
	def(&c.HealthPath, DefaultHealthPath)
	def(&c.AccessLog, "stderr")
	if !present("drain.delay") {
		defDur(&c.Drain.Delay, DefaultDrainDelay)
	}
	if !present("drain.timeout") {
		defDur(&c.Drain.Timeout, DefaultDrainTimeout)
	}
	def(&c.TLS.CertsDir, DefaultCertsDir)
	if c.TLS.RedirectHTTP == nil {
		t := true
		c.TLS.RedirectHTTP = &t
	}
	def(&c.ACMEChallengeDir, DefaultACMEDir)
	def(&c.Endpoints.File, DefaultEndpointsFile)
	def(&c.Endpoints.Path, DefaultEndpointsPath)
	def(&c.Endpoints.Protocol, "https")
	def(&c.Endpoints.APIPath, "/api/v1")
	for _, u := range c.Upstreams {
		if u == nil {
			continue
		}
		def(&u.Scheme, "http")
		def(&u.Policy, "round_robin")
		if u.MaxFails == nil {
			m := DefaultMaxFails
			u.MaxFails = &m
		}
		defDur(&u.FailTimeout, DefaultFailTimeout)
		if u.Tries == 0 {
			u.Tries = DefaultTries
		}
		if u.Keepalive == nil {
			k := DefaultKeepalive
			u.Keepalive = &k
		}
		defDur(&u.KeepaliveTimeout, DefaultKeepaliveTimeout)
		defDur(&u.ConnectTimeout, DefaultConnectTimeout)
		defDur(&u.ResponseTimeout, DefaultResponseTimeout)
		defDur(&u.ReadTimeout, DefaultReadTimeout)
		for i := range u.Servers {
			if u.Servers[i].Weight == 0 {
				u.Servers[i].Weight = 1
			}
		}
		if h := u.Health; h != nil {
			def(&h.Path, "/health")
			defDur(&h.Interval, DefaultHealthInterval)
			defDur(&h.Timeout, DefaultHealthTimeout)
			if h.Rise == 0 {
				h.Rise = DefaultRise
			}
			if h.Fall == 0 {
				h.Fall = DefaultFall
			}
		}
	}
	for i := range c.Routes {
		def(&c.Routes[i].Path, "/")
	}
	l := &c.Limits
	defDur(&l.HeaderTimeout, DefaultHeaderTimeout)
	defDur(&l.BodyTimeout, DefaultBodyTimeout)
	defDur(&l.SendTimeout, DefaultSendTimeout)
	defDur(&l.IdleTimeout, DefaultIdleTimeout)
	if l.MaxConns == 0 {
		l.MaxConns = DefaultMaxConns
	}
	if l.H2MaxStreams == 0 {
		l.H2MaxStreams = DefaultH2MaxStreams
	}
}

func def(s *string, v string) {
	if *s == "" {
		*s = v
	}
}

func defDur(d *time.Duration, v time.Duration) {
	if *d == 0 {
		*d = v
	}
}
