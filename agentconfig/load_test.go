package agentconfig

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgectl/edgectl/internal/golden"
	"github.com/edgectl/edgectl/yamlfile/yamlfiletest"

	"github.com/edgectl/edgectl/yamlfile"
)

// loadErr loads path, which must fail with a *yamlfile.Error.
func loadErr(t *testing.T, path string) *yamlfile.Error {
	t.Helper()
	c, err := Load(path)
	if err == nil {
		t.Fatalf("Load(%s) = %+v, want an error", path, c)
	}
	var ye *yamlfile.Error
	if !errors.As(err, &ye) {
		t.Fatalf("Load(%s) error is %T (%v), want *yamlfile.Error", path, err, err)
	}
	if c != nil {
		t.Errorf("Load(%s) returned a config along with its error", path)
	}
	return ye
}

// TestInvalidGolden loads every testdata/invalid/*.yaml and compares the
// complete error text, one problem a line, with NAME.golden.
func TestInvalidGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/invalid/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no invalid configs found: %v", err)
	}
	for _, path := range files {
		name := strings.TrimSuffix(filepath.Base(path), ".yaml")
		t.Run(name, func(t *testing.T) {
			ye := loadErr(t, path)
			got := ye.Error() + "\n"
			goldenPath := strings.TrimSuffix(path, ".yaml") + ".golden"
			golden.Check(t, "errors for "+path, goldenPath, []byte(got))
			yamlfiletest.CheckPositions(t, path, ye, strings.HasPrefix(name, "syntax_"))
		})
	}
	// A golden without its config would silently stop being checked.
	goldens, _ := filepath.Glob("testdata/invalid/*.golden")
	for _, g := range goldens {
		if _, err := os.Stat(strings.TrimSuffix(g, ".golden") + ".yaml"); err != nil {
			t.Errorf("%s has no matching .yaml", g)
		}
	}
}

// TestProblemPositions spells out, for one problem of each kind, the token
// a user should land on, so the goldens are checked by a readable
// expectation too.
func TestProblemPositions(t *testing.T) {
	tests := []struct {
		name      string
		file      string
		line, col int
		token     string // the source text starting at line:col
		msg       string // a part of the message
	}{
		{"unknown top-level key", "unknown_key_top", 1, 1, "listn:", `unknown key "listn"`},
		{"unknown key in health", "unknown_key_nested", 11, 7, "intervall:", `unknown key "intervall"`},
		{"unknown key in a server", "unknown_key_nested", 8, 9, "wieght:", `unknown key "wieght"`},
		{"unknown key in a route", "unknown_key_nested", 15, 5, "prefix:", `unknown key "prefix"`},
		{"string for int", "wrong_type_scalar", 11, 12, "three", `"three" is not a whole number`},
		{"list for int", "wrong_type_scalar", 13, 16, "[32]", "expected a whole number, got a list"},
		{"string for bool", "wrong_type_scalar", 3, 10, "maybe", `"maybe" is not true or false`},
		{"list for map", "wrong_type_structure", 9, 13, "[/health]", "expected a mapping (key: value), got a list"},
		{"map for list", "wrong_type_structure", 8, 7, "addr:", "expected a list, got a mapping"},
		{"map for string", "wrong_type_structure", 4, 3, "path:", "expected a string, got a mapping"},
		{"string for list", "wrong_type_structure", 1, 9, `"[::]:80"`, `expected a list, got str "[::]:80"`},
		{"list for the upstreams map", "wrong_type_upstreams_list", 2, 3, "- api", "expected a mapping (key: value), got a list"},
		{"bad duration unit", "bad_duration", 2, 10, "5q", `"5q" is not a duration`},
		{"duration without unit", "bad_duration", 3, 12, "30", `"30" is not a duration`},
		{"listen without port", "bad_listen", 2, 11, `"[::]"`, "missing port in address"},
		{"listen port out of range", "bad_listen", 3, 11, `"[::]:99999"`, `port "99999" must be a number 1-65535`},
		{"listen on a hostname", "bad_listen", 4, 11, `"edge.example.com:80"`, "listen host must be an IP address"},
		{"metrics without port", "bad_listen", 7, 10, `"localhost"`, "is not host:port"},
		{"unbracketed IPv6 server", "bad_server_addr", 4, 15, `"::1:8000"`, "too many colons in address"},
		{"unspecified server", "bad_server_addr", 5, 15, `"[::]:8000"`, "cannot connect to the unspecified address"},
		{"server without host", "bad_server_addr", 6, 15, `":8000"`, `":8000" has no host`},
		{"server with bad hostname", "bad_server_addr", 9, 15, `"bad_host!:8000"`, "neither an IP address nor a hostname"},
		{"server without addr", "bad_server_addr", 11, 9, "{}", `"" is not host:port`},
		{"duplicate server", "duplicate_server", 7, 15, `"[::1]:8000"`, "server [::1]:8000 is listed twice"},
		{"duplicate listener", "duplicate_listen", 5, 11, `"[::]:80"`, "[::]:80 is already listed at listen[0].addr"},
		{"stream on a listener's address", "duplicate_listen", 11, 13, `"[::]:443"`, "[::]:443 is already listed at listen[1].addr"},
		{"route to unknown upstream", "route_unknown_upstream", 10, 15, "ap1", `upstream "ap1" is not defined under upstreams: known: api, web`},
		{"route without upstream", "route_unknown_upstream", 11, 5, "host: example.com", "route needs an upstream"},
		{"stream to unknown upstream", "stream_unknown_upstream", 57, 15, "tunnel_tcp", `upstream "tunnel_tcp" is not defined under upstreams: known: backend_api`},
		{"upstream without settings", "route_null_upstream", 2, 3, "api:", "upstream has no settings"},
		{"bad policy", "bad_policy", 3, 13, "ip_hash", `not "ip_hash"`},
		{"every server a backup", "all_backup", 4, 7, "- addr:", "every server is a backup"},
		{"empty server list", "no_servers", 4, 14, "[]", "upstream has no servers"},
		{"no servers key", "no_servers", 5, 3, "web:", "upstream has no servers"},
		{"tries too high", "tries_range", 3, 12, "99", "tries must be 1-16, not 99"},
		{"negative max_fails", "negative_numbers", 6, 16, "-1", "max_fails must not be negative"},
		{"weight too high", "negative_numbers", 19, 17, "5000", "weight must be 1-1000, not 5000"},
		{"keepalive too high", "negative_numbers", 16, 16, "5000", "keepalive must be 0-4096, not 5000"},
		{"negative drain timeout", "negative_numbers", 3, 12, "-1s", "drain timeout must not be negative"},
		{"negative connect_timeout", "negative_numbers", 10, 22, "-3s", "connect_timeout must not be negative"},
		{"wildcard twice", "bad_route_host", 6, 11, `"*.*.x"`, `host "*.*.x" must be a hostname or *.domain`},
		{"route host with port", "bad_route_host", 8, 11, `"api.example.com:443"`, "must be a hostname"},
		{"route path without slash", "bad_route_host", 15, 11, "api/", `path "api/" must start with /`},
		{"health path without slash", "health", 7, 13, "health", `health path "health" must start with /`},
		{"agent health_path without slash", "health", 1, 14, "healthz", `health_path "healthz" must start with /`},
		{"negative health interval", "health", 8, 17, "-2s", "health interval must be positive"},
		{"negative health rise", "health", 10, 13, "-1", "health rise must be at least 1"},
		{"server_name with scheme http", "https_options_with_http", 4, 18, "origin.example.com", "server_name needs scheme: https"},
		{"ca_file with default scheme", "https_options_with_http", 10, 14, "/etc/edgectl/ca.pem", "ca_file needs scheme: https"},
		{"unknown scheme", "https_options_with_http", 12, 13, "ftp", `scheme must be http or https, not "ftp"`},
		{"endpoints protocol", "endpoints", 2, 13, "ftp", `endpoints.protocol must be http or https, not "ftp"`},
		{"endpoints default_port", "endpoints", 4, 17, "70000", "default_port 70000 is not a port"},
		{"negative header_timeout", "limits", 2, 19, "-1s", "header_timeout must be positive"},
		{"trusted proxy with host bits", "limits", 10, 5, "198.18.0.7/24", "did you mean 198.18.0.0/24?"},
		{"relative admin socket", "paths", 1, 8, "run/agent.sock", "must be an absolute path"},
		{"option-like access_log", "paths", 2, 13, "-oProxyCommand=x", "would be read as an option"},
		{"65th server", "too_many_servers", 68, 9, "addr:", "at most 64 servers"},
		{"[::] and 0.0.0.0 on one port", "port_conflict", 3, 11, `"0.0.0.0:80"`, "cannot open next to [::]:80"},
		{"tab indentation", "syntax_tab", 3, 1, "\tservers:", "a tab; indent with spaces"},
		// The end of the file, where the scanner gave up; the message
		// names the line and column of the opening quote.
		{"unclosed quote", "syntax_unclosed_quote", 7, 1, "", "quoted scalar that starts at line 4, column 15"},
		{"duplicate key", "syntax_duplicate_key", 6, 5, "tries: 3", `mapping key "tries" already defined at line 5`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join("testdata", "invalid", tt.file+".yaml")
			ye := loadErr(t, path)
			src, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if got := yamlfiletest.TextAt(src, tt.line, tt.col); !strings.HasPrefix(got, tt.token) {
				t.Fatalf("test table is wrong: %s:%d:%d is %q, not %q", path, tt.line, tt.col, got, tt.token)
			}
			for _, p := range ye.Problems {
				if p.Line == tt.line && p.Col == tt.col && strings.Contains(p.Msg, tt.msg) {
					return
				}
			}
			t.Errorf("no problem at %d:%d (%q) mentions %q; got:\n%v", tt.line, tt.col, tt.token, tt.msg, ye)
		})
	}
}

// TestValidConfigs loads every testdata/valid/*.yaml.
func TestValidConfigs(t *testing.T) {
	files, err := filepath.Glob("testdata/valid/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no valid configs found: %v", err)
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			c, err := Load(path)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if is := c.Validate(); len(is) > 0 {
				t.Errorf("Validate after Load: %+v", is)
			}
		})
	}
}

func mustLoad(t *testing.T, name string) *Config {
	t.Helper()
	c, err := Load(filepath.Join("testdata", "valid", name))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestDefaultsEmptyFile(t *testing.T) {
	for _, name := range []string{"empty.yaml", "comment_only.yaml"} {
		t.Run(name, func(t *testing.T) {
			c := mustLoad(t, name)
			if len(c.Listen) != 1 || c.Listen[0] != (Listener{Addr: "[::]:80"}) {
				t.Errorf("Listen = %+v, want one plain listener on [::]:80", c.Listen)
			}
			if c.Admin != "/run/edgectl/agent.sock" {
				t.Errorf("Admin = %q, want /run/edgectl/agent.sock", c.Admin)
			}
			if c.HealthPath != "/health" || c.AccessLog != "stderr" || c.Metrics != "" {
				t.Errorf("HealthPath, AccessLog, Metrics = %q, %q, %q", c.HealthPath, c.AccessLog, c.Metrics)
			}
			if c.Drain != (Drain{Delay: 5 * time.Second, Timeout: 30 * time.Second}) {
				t.Errorf("Drain = %+v", c.Drain)
			}
			if c.TLS.CertsDir != "/etc/edgectl/certs" || c.TLS.RedirectHTTP == nil || !*c.TLS.RedirectHTTP {
				t.Errorf("TLS = %q redirect %v, want /etc/edgectl/certs and redirect_http true", c.TLS.CertsDir, c.TLS.RedirectHTTP)
			}
			if c.ACMEChallengeDir != "/var/lib/edgectl/acme" {
				t.Errorf("ACMEChallengeDir = %q", c.ACMEChallengeDir)
			}
			want := Endpoints{File: "/etc/edgectl/endpoints.txt", Path: "/api/v1/config/endpoints", Protocol: "https", APIPath: "/api/v1"}
			if c.Endpoints != want {
				t.Errorf("Endpoints = %+v, want %+v", c.Endpoints, want)
			}
			if len(c.Upstreams) != 0 || len(c.Routes) != 0 || len(c.Streams) != 0 {
				t.Errorf("upstreams, routes, streams = %v, %v, %v; want none", c.Upstreams, c.Routes, c.Streams)
			}
		})
	}
}

func TestDefaultsMinimal(t *testing.T) {
	c := mustLoad(t, "minimal.yaml")
	if len(c.Listen) != 1 || c.Listen[0].Addr != "[::]:80" || c.Listen[0].TLS {
		t.Errorf("Listen = %+v, want [::]:80 without TLS", c.Listen)
	}
	if c.Admin != "/run/edgectl/agent.sock" {
		t.Errorf("Admin = %q, want the default socket when admin: is absent", c.Admin)
	}
	if !*c.TLS.RedirectHTTP {
		t.Error("redirect_http defaulted to false")
	}
	u := c.Upstreams["backend_api"]
	if u == nil {
		t.Fatal("upstream backend_api missing")
	}
	if u.Scheme != "http" || u.Policy != "round_robin" || u.Tries != 2 || *u.MaxFails != 3 {
		t.Errorf("scheme, policy, tries, max_fails = %q, %q, %d, %d; want http, round_robin, 2, 3",
			u.Scheme, u.Policy, u.Tries, *u.MaxFails)
	}
	if *u.Keepalive != 32 {
		t.Errorf("keepalive = %d, want 32", *u.Keepalive)
	}
	if u.FailTimeout != 30*time.Second || u.KeepaliveTimeout != 60*time.Second ||
		u.ConnectTimeout != 3*time.Second || u.ResponseTimeout != 60*time.Second {
		t.Errorf("timeouts fail %v keepalive %v connect %v response %v; want 30s 60s 3s 60s",
			u.FailTimeout, u.KeepaliveTimeout, u.ConnectTimeout, u.ResponseTimeout)
	}
	if u.Health != nil {
		t.Errorf("health = %+v, want nil (off) when omitted", u.Health)
	}
	want := []Server{{Addr: "[::1]:8000", Weight: 1}, {Addr: "127.0.0.1:8000", Backup: true, Weight: 1}}
	if len(u.Servers) != 2 || u.Servers[0] != want[0] || u.Servers[1] != want[1] {
		t.Errorf("servers = %+v, want %+v", u.Servers, want)
	}
	if len(c.Routes) != 1 || c.Routes[0] != (Route{Path: "/", Upstream: "backend_api"}) {
		t.Errorf("routes = %+v, want one any-host route for / to backend_api", c.Routes)
	}
}

func TestDefaultsSpecExample(t *testing.T) {
	c := mustLoad(t, "spec.yaml")
	if len(c.Listen) != 2 || c.Listen[1] != (Listener{Addr: "[::]:443", TLS: true}) {
		t.Errorf("Listen = %+v", c.Listen)
	}
	if c.Metrics != "127.0.0.1:9180" {
		t.Errorf("Metrics = %q", c.Metrics)
	}
	u := c.Upstreams["backend_api"]
	if u.Health == nil {
		t.Fatal("health missing")
	}
	if *u.Health != (Health{Path: "/health", Interval: 2 * time.Second, Timeout: 2 * time.Second, Rise: 2, Fall: 3}) {
		t.Errorf("health = %+v", *u.Health)
	}
	if !u.Servers[1].Backup || u.Servers[0].Backup {
		t.Errorf("servers = %+v, want the second one as backup", u.Servers)
	}
	if c.Routes[0] != (Route{Host: "api.example.com", Path: "/api/", Upstream: "backend_api"}) {
		t.Errorf("route = %+v", c.Routes[0])
	}
	if len(c.Streams) != 1 || c.Streams[0] != (Stream{Listen: "[::]:7000", Upstream: "tunnel_tcp"}) {
		t.Errorf("streams = %+v", c.Streams)
	}
	if tt := c.Upstreams["tunnel_tcp"]; tt == nil || tt.Tries != 2 || tt.Servers[0].Weight != 1 {
		t.Errorf("tunnel_tcp = %+v, want defaults applied", tt)
	}
}

func TestDefaultsExplicitValues(t *testing.T) {
	c := mustLoad(t, "full_variety.yaml")
	if c.Admin != "/tmp/agent.sock" {
		t.Errorf("Admin = %q", c.Admin)
	}
	if *c.TLS.RedirectHTTP {
		t.Error("redirect_http: false was overridden by the default")
	}
	if h := c.Upstreams["fast"].Health; h == nil ||
		*h != (Health{Path: "/health", Interval: 2 * time.Second, Timeout: 2 * time.Second, Rise: 2, Fall: 3}) {
		t.Errorf("health: {} = %+v, want enabled with rise 2 fall 3 interval 2s", h)
	}
	if k := *c.Upstreams["lc"].Keepalive; k != 0 {
		t.Errorf("keepalive: 0 became %d; 0 must disable keepalive", k)
	}
	if m := *c.Upstreams["first"].MaxFails; m != 0 {
		t.Errorf("max_fails: 0 became %d; 0 must disable passive marking", m)
	}
	if w := c.Upstreams["rr"].Servers[0].Weight; w != 1000 {
		t.Errorf("weight = %d, want 1000", w)
	}
	if tries := c.Upstreams["fast"].Tries; tries != 16 {
		t.Errorf("tries = %d, want 16", tries)
	}
	if c.Routes[2] != (Route{Path: "/static/", Upstream: "first"}) {
		t.Errorf("route = %+v", c.Routes[2])
	}
}

func TestAdminEmptyDisablesSocket(t *testing.T) {
	c := mustLoad(t, "admin_off.yaml")
	if c.Admin != "" {
		t.Errorf(`admin: "" gave Admin = %q, want "" (no socket)`, c.Admin)
	}
	for _, in := range []string{"admin: ''\n", "admin: \"\"\n", "admin:\n"} {
		c, err := Parse("agent.yaml", []byte(in))
		if err != nil {
			t.Fatalf("Parse(%q): %v", in, err)
		}
		if c.Admin != "" {
			t.Errorf("Parse(%q): Admin = %q, want \"\"", in, c.Admin)
		}
	}
}

func TestParseNamesTheFile(t *testing.T) {
	_, err := Parse("/etc/edgectl/agent.yaml", []byte("listen:\n  - addr: \"[::]\"\n"))
	want := `/etc/edgectl/agent.yaml:2:11: "[::]" is not host:port (IPv6 in brackets, e.g. "[::]:80"): missing port in address`
	if err == nil || err.Error() != want {
		t.Errorf("got %v\nwant %s", err, want)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "agent.yaml"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load of a missing file: %v, want an fs.ErrNotExist", err)
	}
	if !strings.HasPrefix(err.Error(), "read agent config: ") {
		t.Errorf("error %q does not say what was being read", err)
	}
}

func TestAnchorsAndMergeKeys(t *testing.T) {
	c := mustLoad(t, "anchors.yaml")
	v2 := c.Upstreams["api_v2"]
	if v2 == nil || v2.Policy != "first" || v2.Tries != 3 || v2.Health == nil || v2.Health.Path != "/health" {
		t.Fatalf("api_v2 = %+v, want policy, tries and health merged from api", v2)
	}
	if len(v2.Servers) != 1 || v2.Servers[0].Addr != "[::1]:8001" {
		t.Errorf("api_v2 servers = %+v, want its own single server", v2.Servers)
	}
	if n := len(c.Upstreams["api"].Servers); n != 2 {
		t.Errorf("api has %d servers, want 2", n)
	}
}

// TestDefaultLimits pins every limits: default and read_timeout, the values
// docs/agent.md promises.
func TestDefaultLimits(t *testing.T) {
	c := mustLoad(t, "minimal.yaml")
	want := Limits{HeaderTimeout: 10 * time.Second, BodyTimeout: 60 * time.Second, SendTimeout: 60 * time.Second,
		IdleTimeout: 75 * time.Second, MaxConns: 10000, MaxConnsPerIP: 0, MaxBody: 0, H2MaxStreams: 100}
	if c.Limits != want {
		t.Errorf("limits = %+v, want %+v", c.Limits, want)
	}
	if rt := c.Upstreams["backend_api"].ReadTimeout; rt != 60*time.Second {
		t.Errorf("read_timeout = %v, want 60s", rt)
	}
	if len(c.TrustedProxies) != 0 || c.Trusted() != nil {
		t.Errorf("trusted_proxies = %v, want none by default", c.TrustedProxies)
	}
	c, err := Parse("agent.yaml", []byte("trusted_proxies: [198.18.0.0/15, \"fd00::1\", 127.0.0.1, \"::ffff:198.18.0.9/128\", \"::ffff:198.18.1.0/120\"]\n"))
	if err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprint(c.Trusted())
	if got != "[198.18.0.0/15 fd00::1/128 127.0.0.1/32 198.18.0.9/32 198.18.1.0/24]" {
		t.Errorf("Trusted() = %s", got)
	}
}
