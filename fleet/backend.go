package fleet

import (
	"fmt"
	"net"
	"net/netip"
	"path"
	"strings"
	"time"
)

// Backend restart modes.
const (
	// RestartHold makes the agent hold new requests to the backend's
	// upstream while the backend restarts, releasing them the moment a
	// health check passes (or answering 503 after hold_timeout).
	RestartHold = "hold"
	// RestartPlain restarts the backend without holding requests.
	RestartPlain = "plain"
)

// Backend defaults.
const (
	DefaultBackendRestart     = RestartHold
	DefaultBackendHoldTimeout = 30 * time.Second
	DefaultBackendStopTimeout = 30 * time.Second
)

// Backend is the application service installed on every host as its own
// systemd unit, next to the agent.
type Backend struct {
	// Name of the systemd unit (without .service), e.g. mop-api.
	Name string `yaml:"name"`
	// Exec is the command line, starting with an absolute path. Without
	// socket, bind it dual-stack so the agent reaches it on [::1] and on
	// 127.0.0.1; with socket, let it take the listening socket as fd 3
	// ("uvicorn app:app --fd 3").
	Exec string `yaml:"exec"`
	// Socket makes a systemd socket unit listen on this address and hand
	// the app the listening socket as fd 3: "[::]:8000" is one socket for
	// both families (BindIPv6Only=both), the fix for apps that cannot bind
	// both themselves (uvicorn on "::" is IPv6-only whatever
	// net.ipv6.bindv6only says). An IP literal and a port: "[::]:p",
	// "0.0.0.0:p", "[::1]:p" or "127.0.0.1:p". Empty (the default): the app
	// binds its own sockets.
	Socket string `yaml:"socket"`
	// Health is an http(s) URL deploy polls until it answers 2xx, e.g.
	// http://[::1]:8000/health (optional).
	Health string `yaml:"health"`
	// WorkingDir is the directory the app starts in, where its code is
	// ("uvicorn backend.app.main:app" imports from here). Absolute.
	// Default: none (systemd's default, /).
	WorkingDir string `yaml:"working_dir"`
	// User runs the app. Deploy creates it (a system user without a login
	// shell) when the host does not have it. Default: a dynamic user that
	// exists only while the unit runs (systemd's DynamicUser=), which can
	// write nowhere but read_write_paths.
	User string `yaml:"user"`
	// Group runs the app (default: the user's primary group). Needs user.
	Group string `yaml:"group"`
	// Environment is set for the app: plain, non-secret values such as
	// LOG_LEVEL: info. They are written into the unit file, which anyone
	// on the host can read: secrets go into env_file.
	Environment map[string]string `yaml:"environment"`
	// EnvFile is a file of KEY=value lines on the host, read by systemd
	// when the app starts (EnvironmentFile=). It stays on the host (make it
	// 0600, owned by root): edgectl never reads, copies or prints it. The
	// plan refuses a deploy when it is missing. Absolute.
	EnvFile string `yaml:"env_file"`
	// ReadWritePaths are the directories (or files) the app may write. The
	// unit mounts the whole file system read-only for the app
	// (ProtectSystem=strict) except these, a private /tmp, and, with user
	// set, working_dir's own files stay read-only too unless listed here.
	// Each must exist on the host. Absolute.
	ReadWritePaths []string `yaml:"read_write_paths"`
	// StopTimeout is how long systemd waits for the app to exit after
	// SIGTERM before it kills it (default 30s).
	StopTimeout time.Duration `yaml:"stop_timeout"`
	// Restart is how deploy restarts the app when its unit changes: hold
	// (default) has the agent hold new requests to it during the restart,
	// releasing them when a health check passes, so no request fails;
	// plain restarts it while the agent fails over to other servers or
	// answers 502/503.
	Restart string `yaml:"restart"`
	// HoldTimeout bounds how long a request is held during a restart with
	// restart: hold; beyond it the agent answers 503 (default 30s).
	HoldTimeout time.Duration `yaml:"hold_timeout"`
}

// backendDefaults fills what the backend section left out; written
// durations are kept as written (and validated).
func (b *Backend) applyDefaults(present func(path string) bool) {
	def(&b.Restart, DefaultBackendRestart)
	if !present("backend.stop_timeout") {
		b.StopTimeout = DefaultBackendStopTimeout
	}
	if !present("backend.hold_timeout") {
		b.HoldTimeout = DefaultBackendHoldTimeout
	}
}

// SocketAddr is the parsed socket address; ok is false without socket
// (or with an invalid one, which validation reports).
func (b *Backend) SocketAddr() (ap netip.AddrPort, ok bool) {
	if b == nil || b.Socket == "" {
		return netip.AddrPort{}, false
	}
	ap, err := netip.ParseAddrPort(b.Socket)
	return ap, err == nil
}

// DynamicUser reports whether the app runs as a dynamic user (no user set).
func (b *Backend) DynamicUser() bool { return b.User == "" }

func (f *Fleet) validateBackend(is *issues) {
	b := f.Backend
	if b == nil {
		return
	}
	if b.Name == "" {
		is.addKey("backend", "backend needs a name (its systemd unit, e.g. mop-api)")
	} else if !isWord(b.Name, true) || strings.HasSuffix(b.Name, ".service") || b.Name == "edgectl-agent" {
		is.add("backend.name", "name %q must be a unit name of letters, digits, '-', '_' and '.' without .service, other than edgectl-agent", b.Name)
	}
	if fields := strings.Fields(b.Exec); len(fields) == 0 {
		is.addKey("backend", "backend needs exec (the command line that starts it)")
	} else if !strings.HasPrefix(fields[0], "/") {
		is.add("backend.exec", "exec must start with an absolute path, e.g. /opt/app/venv/bin/uvicorn, not %q", fields[0])
	} else if strings.ContainsAny(b.Exec, "\r\n") {
		is.add("backend.exec", "exec must be one line")
	}
	if b.Health != "" {
		if err := checkURL(b.Health, "http", "https"); err != nil {
			is.add("backend.health", "health %q: %v (e.g. http://[::1]:8000/health)", b.Health, err)
		}
	}
	if b.Socket != "" {
		if err := checkSocket(b.Socket); err != nil {
			is.add("backend.socket", "socket %v", err)
		}
	}
	checkUnitPath(is, "backend.working_dir", "working_dir", b.WorkingDir, "/opt/mop")
	checkUnitPath(is, "backend.env_file", "env_file", b.EnvFile, "/etc/mop/api.env")
	seen := map[string]int{}
	for i, p := range b.ReadWritePaths {
		key := fmt.Sprintf("backend.read_write_paths[%d]", i)
		if p == "" {
			is.add(key, "read_write_paths entries must be absolute paths, e.g. /var/lib/mop; this one is empty")
			continue
		}
		if !checkUnitPath(is, key, "read_write_paths entry", p, "/var/lib/mop") {
			continue
		}
		if j, dup := seen[path.Clean(p)]; dup {
			is.add(key, "%s is already listed at read_write_paths[%d]; remove one", p, j)
		}
		seen[path.Clean(p)] = i
	}
	if b.User != "" && !validUnixName(b.User) {
		is.add("backend.user", "user %q is not a user name: lowercase letters, digits, '_' and '-', starting with a letter or '_', at most 32", b.User)
	}
	if b.Group != "" {
		if b.User == "" {
			is.add("backend.group", "group needs user; a dynamic user (no user set) gets a group of its own")
		} else if !validUnixName(b.Group) {
			is.add("backend.group", "group %q is not a group name: lowercase letters, digits, '_' and '-', starting with a letter or '_', at most 32", b.Group)
		}
	}
	f.validateEnvironment(is)
	positive(is, "backend.stop_timeout", b.StopTimeout)
	switch b.Restart {
	case RestartHold:
		positive(is, "backend.hold_timeout", b.HoldTimeout)
		if b.HoldTimeout > 10*time.Minute {
			is.add("backend.hold_timeout", "hold_timeout %s is longer than any client waits; keep it at most 10m (default 30s)", b.HoldTimeout)
		}
	case RestartPlain:
	default:
		is.add("backend.restart", "restart must be hold or plain, not %q", b.Restart)
	}
}

// validateEnvironment checks names and values of backend.environment.
func (f *Fleet) validateEnvironment(is *issues) {
	for k, v := range f.Backend.Environment {
		key := "backend.environment." + k
		if !validEnvName(k) {
			is.addKey(key, "environment name %q must be letters, digits and '_', not starting with a digit", k)
			continue
		}
		if strings.ContainsAny(v, "\x00\r\n") {
			is.add(key, "the value of %s must be one line; put multi-line values into env_file", k)
		}
	}
}

// checkSocket accepts an IP literal with a port: "[::]:8000", "0.0.0.0:8000".
func checkSocket(s string) error {
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		if host, _, herr := net.SplitHostPort(s); herr == nil && host != "" {
			if _, aerr := netip.ParseAddr(host); aerr != nil {
				return fmt.Errorf("%q: the host must be an IP address such as [::] (both families) or 127.0.0.1, not a name", s)
			}
		}
		return fmt.Errorf("%q is not ip:port; write \"[::]:8000\" for one socket on both families", s)
	}
	switch {
	case ap.Port() == 0:
		return fmt.Errorf("%q needs a port 1-65535", s)
	case ap.Addr().Zone() != "":
		return fmt.Errorf("%q: zones are not allowed", s)
	case ap.Addr().Is4In6():
		return fmt.Errorf("%q: write the IPv4 address as such, e.g. 127.0.0.1:8000", s)
	case ap.Addr().IsMulticast():
		return fmt.Errorf("%q is a multicast address", s)
	}
	return nil
}

// checkUnitPath accepts "" or an absolute path a unit file can hold
// unquoted; it reports the problem and returns false otherwise.
func checkUnitPath(is *issues, key, what, p, example string) bool {
	switch {
	case p == "":
		return true
	case !strings.HasPrefix(p, "/"):
		is.add(key, "%s %q must be an absolute path, e.g. %s", what, p, example)
	case strings.ContainsAny(p, " \t\r\n\"'\\;$%") || !printable(p):
		is.add(key, "%s %q cannot go into a systemd unit: no spaces, quotes, backslashes, ';', '$', '%%' or control characters", what, p)
	case path.Clean(p) != p && path.Clean(p)+"/" != p:
		is.add(key, "%s %q: write it as %s", what, p, path.Clean(p))
	default:
		return true
	}
	return false
}

// validUnixName is the portable user and group name systemd accepts:
// [a-z_][a-z0-9_-]*, at most 32.
func validUnixName(s string) bool {
	if s == "" || len(s) > 32 || !(s[0] >= 'a' && s[0] <= 'z' || s[0] == '_') {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// validEnvName is [A-Za-z_][A-Za-z0-9_]*.
func validEnvName(s string) bool {
	if s == "" || s[0] >= '0' && s[0] <= '9' {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}
