// Package agentconfig defines agent.yaml, the on-host agent's configuration:
// its schema (documented field by field: this is the user's reference),
// defaults, and validation with file:line:col errors.
package agentconfig

import "time"

// DefaultPath is where the agent looks for its configuration.
const DefaultPath = "/etc/edgectl/agent.yaml"

// Config is the whole of agent.yaml.
type Config struct {
	// Listen lists the HTTP(S) listeners. "[::]:80" listens dual-stack with
	// IPV6_V6ONLY forced off whatever net.ipv6.bindv6only says, and falls
	// back to IPv4 with a warning on a host without IPv6.
	Listen []Listener `yaml:"listen"`
	// Admin is the unix socket serving /status and /metrics ("" = none).
	Admin string `yaml:"admin"`
	// Metrics is an optional TCP address serving /metrics for Prometheus.
	Metrics string `yaml:"metrics"`
	// HealthPath is the agent's own health endpoint on every listener:
	// 200 while healthy, 503 while draining.
	HealthPath string `yaml:"health_path"`
	// AccessLog is where the JSON access log goes: "stderr" (default),
	// "off", or a file path (appended to).
	AccessLog string `yaml:"access_log"`
	// Drain controls the graceful shutdown on SIGTERM.
	Drain Drain `yaml:"drain"`
	// TLS configures certificates for listeners with tls: true.
	TLS TLS `yaml:"tls"`
	// ACMEChallengeDir holds HTTP-01 tokens served at
	// /.well-known/acme-challenge/.
	ACMEChallengeDir string `yaml:"acme_challenge_dir"`
	// Endpoints serves the client failover list rendered from a file.
	Endpoints Endpoints `yaml:"endpoints"`
	// Upstreams are the named backend pools.
	Upstreams map[string]*Upstream `yaml:"upstreams"`
	// Routes map a host and path prefix to an upstream, first match wins
	// after ordering by specificity (exact host, wildcard host, any host;
	// then longest path prefix).
	Routes []Route `yaml:"routes"`
	// Streams are L4 TCP listeners proxied to an upstream's servers.
	Streams []Stream `yaml:"streams"`
	// SHA256 is the hex SHA-256 of the bytes this configuration was
	// parsed from (set by Parse and Load; not a key of the file). The
	// agent reports it in /status, so deploy can tell whether the config
	// on disk is the one running.
	SHA256 string `yaml:"-" json:"-"`
}

// Listener is one HTTP or HTTPS listening address.
type Listener struct {
	// Addr is host:port; "[::]:p" is dual-stack, "0.0.0.0:p" IPv4 only.
	Addr string `yaml:"addr"`
	// TLS serves HTTPS with certificates from tls.certs_dir.
	TLS bool `yaml:"tls"`
}

// Drain is the SIGTERM behaviour.
type Drain struct {
	// Delay keeps serving (with health answering 503) so clients move away.
	Delay time.Duration `yaml:"delay"`
	// Timeout is how long in-flight requests get after listeners close.
	Timeout time.Duration `yaml:"timeout"`
}

// TLS is the certificate store for TLS listeners.
type TLS struct {
	// CertsDir holds <name>/fullchain.pem and <name>/privkey.pem.
	CertsDir string `yaml:"certs_dir"`
	// RedirectHTTP answers plain-HTTP requests with a redirect to HTTPS.
	RedirectHTTP *bool `yaml:"redirect_http"`
}

// Endpoints configures the failover list served to mobile clients.
type Endpoints struct {
	File        string `yaml:"file"`
	Path        string `yaml:"path"`
	Protocol    string `yaml:"protocol"`
	APIPath     string `yaml:"api_path"`
	SocketPath  string `yaml:"socket_path"`
	DefaultPort int    `yaml:"default_port"`
}

// Upstream is a pool of servers with failover.
type Upstream struct {
	// Scheme is http or https (an origin over TLS).
	Scheme string `yaml:"scheme"`
	// ServerName is the SNI and certificate name for https (default: the
	// address host).
	ServerName string `yaml:"server_name"`
	// CAFile adds trusted roots for https; the system pool otherwise.
	CAFile string `yaml:"ca_file"`
	// Servers in order of preference.
	Servers []Server `yaml:"servers"`
	// Policy picks among live servers: round_robin, first, least_conn or
	// fastest (lowest latency EWMA).
	Policy string `yaml:"policy"`
	// MaxFails failures within FailTimeout mark a server down for
	// FailTimeout (nginx semantics). 0 disables passive marking.
	MaxFails *int `yaml:"max_fails"`
	// FailTimeout is both the counting window and the down time.
	FailTimeout time.Duration `yaml:"fail_timeout"`
	// Tries is the number of attempts per request across servers.
	Tries int `yaml:"tries"`
	// Health configures active checks; omit to disable.
	Health *Health `yaml:"health"`
	// Keepalive is the number of idle connections kept per server for each
	// CPU. nginx's `keepalive N` caches N per worker process with one worker
	// per CPU; the agent keeps the same total, so 32 on a 2-CPU host keeps
	// up to 64 idle connections. 0 disables keepalive.
	Keepalive *int `yaml:"keepalive"`
	// KeepaliveTimeout closes idle connections older than this.
	KeepaliveTimeout time.Duration `yaml:"keepalive_timeout"`
	// ConnectTimeout bounds the TCP (and TLS) connect.
	ConnectTimeout time.Duration `yaml:"connect_timeout"`
	// ResponseTimeout bounds the wait for response headers; streaming
	// bodies are not cut.
	ResponseTimeout time.Duration `yaml:"response_timeout"`
}

// Server is one upstream address.
type Server struct {
	// Addr is host:port; IPv6 literals in brackets.
	Addr string `yaml:"addr"`
	// Backup servers are used only while no primary is healthy.
	Backup bool `yaml:"backup"`
	// Weight for round_robin and least_conn (default 1).
	Weight int `yaml:"weight"`
}

// Health is an active health check.
type Health struct {
	Path     string        `yaml:"path"`
	Interval time.Duration `yaml:"interval"`
	Timeout  time.Duration `yaml:"timeout"`
	// Rise consecutive passes bring a server up.
	Rise int `yaml:"rise"`
	// Fall consecutive failures take it down.
	Fall int `yaml:"fall"`
}

// Route sends matching requests to an upstream.
type Route struct {
	// Host is an exact name or "*.example.com"; empty matches any host.
	Host string `yaml:"host"`
	// Path is a prefix; empty means "/".
	Path     string `yaml:"path"`
	Upstream string `yaml:"upstream"`
}

// Stream is an L4 TCP proxy.
type Stream struct {
	Listen   string `yaml:"listen"`
	Upstream string `yaml:"upstream"`
}
