package templates

import (
	"fmt"
	"net/netip"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/edgectl/edgectl/fleet"
)

// BackendUnit is the input of the optional backend's units: its
// <name>.service and, with Socket, its <name>.socket.
type BackendUnit struct {
	// Name is the unit name without .service.
	Name string
	// Exec is the command line, starting with an absolute path. systemd
	// expands $VAR and ${VAR} in it from Environment and EnvFile.
	Exec string
	// Socket is the listening address of <name>.socket, an IP literal and
	// a port ("[::]:8000"); "" means the app binds its own sockets.
	Socket string
	// WorkingDir is the directory the app starts in ("" = systemd's /).
	WorkingDir string
	// User and Group run the app; no User means a dynamic user.
	User, Group string
	// Environment holds plain values, written one Environment= line each,
	// sorted by name.
	Environment map[string]string
	// EnvFile is read by systemd at start (EnvironmentFile=).
	EnvFile string
	// ReadWritePaths stay writable under ProtectSystem=strict.
	ReadWritePaths []string
	// StopTimeout is TimeoutStopSec= (0 = systemd's default).
	StopTimeout time.Duration
}

// BackendFromFleet is the unit input for fleet.yaml's backend.
func BackendFromFleet(b *fleet.Backend) BackendUnit {
	return BackendUnit{
		Name: b.Name, Exec: b.Exec, Socket: b.Socket, WorkingDir: b.WorkingDir,
		User: b.User, Group: b.Group, Environment: b.Environment, EnvFile: b.EnvFile,
		ReadWritePaths: b.ReadWritePaths, StopTimeout: b.StopTimeout,
	}
}

// SocketUnitName is the socket unit's file name ("" without Socket).
func (b BackendUnit) SocketUnitName() string {
	if b.Socket == "" {
		return ""
	}
	return b.Name + ".socket"
}

// RenderBackendUnit renders <name>.service for the application backend:
// working directory, user (or a dynamic one), environment, env file, stop
// timeout, and a sandbox that leaves writable only ReadWritePaths and a
// private /tmp. With Socket the service requires <name>.socket and gets
// its listening socket as fd 3.
func RenderBackendUnit(b BackendUnit) ([]byte, error) {
	if err := b.check(); err != nil {
		return nil, err
	}
	env := make([]string, 0, len(b.Environment))
	names := make([]string, 0, len(b.Environment))
	for k := range b.Environment {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		env = append(env, environmentLine(k, b.Environment[k]))
	}
	stop := ""
	if b.StopTimeout > 0 {
		stop = fmt.Sprintf("%ds", int((b.StopTimeout+time.Second-1)/time.Second))
	}
	return render("backend.service.tmpl", map[string]any{
		"Header":         Header,
		"Name":           b.Name,
		"Exec":           specifiers(b.Exec),
		"Socket":         b.Socket != "",
		"WorkingDir":     b.WorkingDir,
		"User":           b.User,
		"Group":          b.Group,
		"Environment":    env,
		"EnvFile":        b.EnvFile,
		"StopTimeout":    stop,
		"ProtectHome":    b.protectHome(),
		"ReadWritePaths": strings.Join(b.ReadWritePaths, " "),
	})
}

// RenderBackendSocket renders <name>.socket: one listening socket on
// Socket, for both families when it is "[::]:port" (BindIPv6Only=both),
// handed to <name>.service as fd 3. nil without Socket.
func RenderBackendSocket(b BackendUnit) ([]byte, error) {
	if b.Socket == "" {
		return nil, nil
	}
	if err := b.check(); err != nil {
		return nil, err
	}
	ap, _ := netip.ParseAddrPort(b.Socket) // checked
	return render("backend.socket.tmpl", map[string]any{
		"Header": Header,
		"Name":   b.Name,
		"Listen": ap.String(),
		"Dual":   ap.Addr().Is6() && ap.Addr().IsUnspecified(),
	})
}

// check refuses input that would break or inject into a unit file;
// fleet validation reports the same problems with positions first.
func (b BackendUnit) check() error {
	if b.Name == "" || strings.ContainsAny(b.Name, "\n\r/ \\%$") {
		return fmt.Errorf("backend name %q cannot name a systemd unit", b.Name)
	}
	if strings.ContainsAny(b.Exec, "\n\r") || !strings.HasPrefix(b.Exec, "/") {
		return fmt.Errorf("backend exec must be one line starting with an absolute path")
	}
	for _, p := range append([]string{b.WorkingDir, b.EnvFile}, b.ReadWritePaths...) {
		if p != "" {
			if err := unitPath(p); err != nil {
				return err
			}
		}
	}
	for _, n := range []string{b.User, b.Group} {
		if strings.ContainsAny(n, " \t\n\r\"'\\%$") {
			return fmt.Errorf("user or group %q cannot go into a systemd unit", n)
		}
	}
	for k, v := range b.Environment {
		if k == "" || strings.ContainsAny(k, "= \t\n\r\"'\\%$") || strings.ContainsAny(v, "\x00\n\r") {
			return fmt.Errorf("environment %s: names are letters, digits and _, values one line", k)
		}
	}
	if b.Socket != "" {
		if ap, err := netip.ParseAddrPort(b.Socket); err != nil || ap.Port() == 0 || ap.Addr().Zone() != "" {
			return fmt.Errorf("backend socket %q is not ip:port such as [::]:8000", b.Socket)
		}
	}
	return nil
}

// protectHome is "yes" (home directories invisible) unless the app lives
// or writes under /home, /root or /run/user; then "read-only", which
// ReadWritePaths can still open up.
func (b BackendUnit) protectHome() string {
	paths := append([]string{b.WorkingDir, b.EnvFile}, b.ReadWritePaths...)
	if f := strings.Fields(b.Exec); len(f) > 0 {
		paths = append(paths, f[0])
	}
	for _, p := range paths {
		p = path.Clean("/" + p)
		for _, home := range []string{"/home", "/root", "/run/user"} {
			if p == home || strings.HasPrefix(p, home+"/") {
				return "read-only"
			}
		}
	}
	return "yes"
}

// environmentLine is one Environment= value: double-quoted, with
// backslash and quote escaped and % doubled (systemd expands specifiers,
// not $VARs, in Environment=).
func environmentLine(k, v string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "%", "%%")
	return `"` + r.Replace(k+"="+v) + `"`
}

// specifiers doubles % so systemd reads it literally.
func specifiers(s string) string { return strings.ReplaceAll(s, "%", "%%") }
