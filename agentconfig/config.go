// Package agentconfig defines agent.yaml, the on-host agent's configuration:
// its schema (documented field by field: this is the user's reference),
// defaults, and validation with file:line:col errors.
package agentconfig

import "time"

// DefaultPath is where the agent looks for its configuration.
const DefaultPath = "/etc/edgectl/agent.yaml"

// Config is the whole of agent.yaml.
type Config struct {
	// Listen lists the HTTP(S) listeners (default: one plain listener on
	// "[::]:80"). "[::]:80" listens dual-stack with IPV6_V6ONLY forced off
	// whatever net.ipv6.bindv6only says, and falls back to IPv4 with a
	// warning on a host without IPv6. Two listeners (or streams, or the
	// metrics address) that would claim the same port on the same
	// addresses ("[::]:80" and "0.0.0.0:80") are refused.
	Listen []Listener `yaml:"listen"`
	// Admin is the unix socket serving /status, /metrics, /reload,
	// /upgrade and /drain (mode 0660). Default /run/edgectl/agent.sock;
	// "" turns it off. An absolute path of at most 107 bytes.
	Admin string `yaml:"admin"`
	// Metrics is an optional TCP address serving /metrics for Prometheus
	// (default "": only on the admin socket).
	Metrics string `yaml:"metrics"`
	// HealthPath is the agent's own health endpoint on every listener
	// (default /health): 200 while healthy ("degraded" when an upstream
	// has no live server), 503 while draining. Clients on the host itself
	// (loopback) also get the version and every upstream's live/total
	// count; anyone else gets the status only.
	HealthPath string `yaml:"health_path"`
	// AccessLog is where the JSON access log goes: "stderr" (default),
	// "off", or an absolute file path (appended to; under the systemd
	// unit it must lie in /var/log/edgectl, which --check verifies).
	AccessLog string `yaml:"access_log"`
	// Drain controls the graceful shutdown on SIGTERM.
	Drain Drain `yaml:"drain"`
	// TLS configures certificates for listeners with tls: true.
	TLS TLS `yaml:"tls"`
	// ACMEChallengeDir holds HTTP-01 tokens served at
	// /.well-known/acme-challenge/ on plain HTTP, before any redirect
	// (default /var/lib/edgectl/acme). Only base64url token names are
	// looked up; anything else is a 404.
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
	// Limits bound what clients may hold: every wait has a timeout and
	// every resource a cap.
	Limits Limits `yaml:"limits"`
	// TrustedProxies lists the addresses (CIDRs such as "198.18.0.0/24" or
	// single IPs) of proxies in front of the agent whose X-Forwarded-For,
	// X-Forwarded-Proto, X-Forwarded-Host, X-Real-IP and Forwarded fields
	// are believed: from them these fields are kept and the agent appends
	// the peer to X-Forwarded-For and Forwarded. From every other client
	// they are replaced by what the agent saw itself (the peer address,
	// the scheme and the Host). Default: none, nobody is trusted.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// SHA256 is the hex SHA-256 of the bytes this configuration was
	// parsed from (set by Parse and Load; not a key of the file). The
	// agent reports it in /status, so deploy can tell whether the config
	// on disk is the one running.
	SHA256 string `yaml:"-" json:"-"`
}

// Limits are the timeouts and caps of client connections. Each default is
// the one nginx or HAProxy uses (or recommends) for the same thing.
type Limits struct {
	// HeaderTimeout bounds reading a whole request head: from the accept
	// for the first request of a connection (the TLS handshake included),
	// from its first byte for a later request. Too slow: 408 and the
	// connection is closed. Default 10s (HAProxy's recommended
	// "timeout http-request 10s"; nginx's client_header_timeout is 60s).
	HeaderTimeout time.Duration `yaml:"header_timeout"`
	// BodyTimeout bounds the wait between two reads of a request body
	// (not the whole body). Too slow: 408 and the connection is closed.
	// Default 60s (nginx's client_body_timeout).
	BodyTimeout time.Duration `yaml:"body_timeout"`
	// SendTimeout bounds the wait between two writes to a client that
	// does not read its response. Too slow: the connection is closed.
	// Default 60s (nginx's send_timeout).
	SendTimeout time.Duration `yaml:"send_timeout"`
	// IdleTimeout closes a keepalive connection (HTTP/1.1 or HTTP/2)
	// that waits this long for its next request. Default 75s (nginx's
	// keepalive_timeout).
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// MaxConns caps the client connections of all listeners and streams
	// together. At the cap the agent stops accepting until one closes:
	// new clients wait in the kernel's listen queue instead of costing
	// memory or file descriptors. Default 10000 (HAProxy's maxconn is
	// derived from the file descriptor limit; nginx's worker_connections
	// is 512 per worker, times the workers).
	MaxConns int `yaml:"max_conns"`
	// MaxConnsPerIP caps the connections of one client address; beyond it
	// an HTTP client gets 503 and the connection is closed, a TLS or
	// stream client is closed. 0 (the default) is no cap, as nginx without
	// limit_conn.
	MaxConnsPerIP int `yaml:"max_conns_per_ip"`
	// MaxBody caps a request body in bytes; a larger one gets 413. 0 (the
	// default) is no cap (nginx's client_max_body_size is 1m; the agent
	// fronts APIs that take uploads, so it sets none unless told).
	MaxBody int64 `yaml:"max_body"`
	// H2MaxStreams caps the concurrent streams of one HTTP/2 connection,
	// and so the upstream connections one HTTP/2 client can hold. Default
	// 100 (HAProxy's tune.h2.max-concurrent-streams; nginx's
	// http2_max_concurrent_streams is 128).
	H2MaxStreams int `yaml:"h2_max_streams"`
}

// Listener is one HTTP or HTTPS listening address. HTTPS listeners offer
// HTTP/2 (ALPN h2) and HTTP/1.1.
type Listener struct {
	// Addr is host:port; "[::]:p" is dual-stack, "0.0.0.0:p" IPv4 only.
	Addr string `yaml:"addr"`
	// TLS serves HTTPS with certificates from tls.certs_dir.
	TLS bool `yaml:"tls"`
}

// Drain is the SIGTERM behaviour.
type Drain struct {
	// Delay keeps serving (with health answering 503) so clients move
	// away (default 5s; an explicit 0s means none).
	Delay time.Duration `yaml:"delay"`
	// Timeout is how long in-flight requests get after listeners close
	// (default 30s).
	Timeout time.Duration `yaml:"timeout"`
}

// TLS is the certificate store for TLS listeners.
type TLS struct {
	// CertsDir holds <name>/fullchain.pem and <name>/privkey.pem, chosen
	// by SNI and re-read within a second of a change (default
	// /etc/edgectl/certs; an empty directory is fine).
	CertsDir string `yaml:"certs_dir"`
	// RedirectHTTP answers plain-HTTP requests with 308 to HTTPS when a
	// TLS listener exists (default true). The Location is built from the
	// validated Host and the percent-escaped target, never from raw bytes.
	RedirectHTTP *bool `yaml:"redirect_http"`
}

// Endpoints configures the failover list served to mobile clients.
type Endpoints struct {
	// File is endpoints.txt (default /etc/edgectl/endpoints.txt),
	// re-read when it changes; the last good list stays served.
	File string `yaml:"file"`
	// Path is where the JSON list is served (default
	// /api/v1/config/endpoints).
	Path string `yaml:"path"`
	// Protocol is the scheme of every URL in the list: https (default)
	// or http.
	Protocol string `yaml:"protocol"`
	// APIPath is appended to each API URL (default /api/v1).
	APIPath string `yaml:"api_path"`
	// SocketPath is appended to each Socket.IO URL (default "": none).
	SocketPath string `yaml:"socket_path"`
	// DefaultPort, above 0, is written into every URL (default 0: the
	// scheme's port).
	DefaultPort int `yaml:"default_port"`
}

// Upstream is a pool of servers with failover.
type Upstream struct {
	// Scheme is http (default) or https (an origin over TLS).
	Scheme string `yaml:"scheme"`
	// ServerName is the SNI and certificate name for https (default: the
	// address host).
	ServerName string `yaml:"server_name"`
	// CAFile adds trusted roots for https; the system pool otherwise.
	CAFile string `yaml:"ca_file"`
	// Servers in order of preference; at most 64.
	Servers []Server `yaml:"servers"`
	// Policy picks among live servers: round_robin (default: nginx's
	// smooth weighted round robin), first (the first live server in
	// order), least_conn (fewest requests in flight per weight) or
	// fastest (lowest latency average).
	Policy string `yaml:"policy"`
	// MaxFails failures within FailTimeout mark a server down for
	// FailTimeout (nginx semantics; default 3). 0 disables passive
	// marking.
	MaxFails *int `yaml:"max_fails"`
	// FailTimeout is both the counting window and the down time (default
	// 30s).
	FailTimeout time.Duration `yaml:"fail_timeout"`
	// Tries is the number of attempts per request across servers (default
	// 2, at most 16). A failed connect is always retried; once a request
	// reached a server only idempotent methods are.
	Tries int `yaml:"tries"`
	// Health configures active checks; omit to disable.
	Health *Health `yaml:"health"`
	// Keepalive is the number of idle connections kept per server for each
	// CPU. nginx's `keepalive N` caches N per worker process with one worker
	// per CPU; the agent keeps the same total, so 32 on a 2-CPU host keeps
	// up to 64 idle connections. Above that, a connection coming back
	// from a burst of concurrent requests stays idle for up to a second
	// (at most 1024 of them), so the next burst reuses it rather than
	// connecting again (HAProxy's pool-purge-delay). 0 disables keepalive.
	Keepalive *int `yaml:"keepalive"`
	// KeepaliveTimeout closes idle connections older than this (default
	// 60s). An idle connection is reused only if its last response was
	// consumed exactly, with no byte left over.
	KeepaliveTimeout time.Duration `yaml:"keepalive_timeout"`
	// ConnectTimeout bounds the TCP (and TLS) connect (default 3s).
	ConnectTimeout time.Duration `yaml:"connect_timeout"`
	// ResponseTimeout bounds sending the request and the wait for the
	// response headers (504 when exceeded). Default 60s (nginx's
	// proxy_read_timeout for the first byte).
	ResponseTimeout time.Duration `yaml:"response_timeout"`
	// ReadTimeout bounds the wait between two reads of a response body,
	// and between two writes of a streamed request body to the server:
	// a stalled server is cut off, a streaming one (SSE) that sends at
	// least once per ReadTimeout is not. Default 60s (nginx's
	// proxy_read_timeout and proxy_send_timeout).
	ReadTimeout time.Duration `yaml:"read_timeout"`
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

// Health is an active health check: a GET of Path on every server every
// Interval; a 2xx within Timeout passes.
type Health struct {
	// Path is requested on each server (default /health).
	Path string `yaml:"path"`
	// Interval between two checks of a server (default 2s).
	Interval time.Duration `yaml:"interval"`
	// Timeout of one check (default 2s).
	Timeout time.Duration `yaml:"timeout"`
	// Rise consecutive passes bring a server up (default 2).
	Rise int `yaml:"rise"`
	// Fall consecutive failures take it down (default 3).
	Fall int `yaml:"fall"`
}

// Route sends matching requests to an upstream.
type Route struct {
	// Host is an exact name or "*.example.com"; empty matches any host.
	Host string `yaml:"host"`
	// Path is a prefix; empty means "/".
	Path string `yaml:"path"`
	// Upstream names the pool under upstreams:.
	Upstream string `yaml:"upstream"`
}

// Stream is an L4 TCP proxy. Its connections count against
// limits.max_conns and max_conns_per_ip like HTTP ones.
type Stream struct {
	// Listen is host:port, as for listeners.
	Listen string `yaml:"listen"`
	// Upstream names the pool; its health checks become TCP connects.
	Upstream string `yaml:"upstream"`
}
