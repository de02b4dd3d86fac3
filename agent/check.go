package agent

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/edgectl/edgectl/agentconfig"
)

// UnitFile is where deploy installs the agent's systemd unit.
const UnitFile = "/etc/systemd/system/edgectl-agent.service"

// CheckResult is what Check found beyond the file's own validation.
type CheckResult struct {
	// Warnings: the agent starts, but probably not as meant.
	Warnings []string
	// Problems: the agent would fail at start, or at its first write.
	Problems []string
}

// Check looks at a valid configuration as the agent would run it on this
// host: a file with nothing to proxy, and, when the agent's systemd unit
// is installed at unitPath, every path the agent writes (access_log, the
// admin socket) or reads (certificates, ACME tokens, the endpoints list,
// CA files) against the unit's sandbox: ProtectSystem=strict makes the
// file system read-only but for the unit's own directories, ProtectHome
// hides /home and /root, PrivateTmp gives the agent a /tmp nobody else
// sees, and the agent runs as the unit's User.
func Check(cfg *agentconfig.Config, unitPath string) CheckResult {
	var r CheckResult
	if len(cfg.Routes) == 0 && len(cfg.Streams) == 0 {
		r.Warnings = append(r.Warnings, "no routes: and no streams: the agent only answers its own paths (health_path, ACME challenges, the endpoints list, the redirect to HTTPS) and 404 for everything else")
	}
	data, err := os.ReadFile(unitPath)
	if err != nil {
		return r // not installed as a unit here: nothing to hold the paths against
	}
	sb := parseUnit(data)
	where := "the unit " + unitPath
	write := func(key, path string, dir bool) {
		target := path
		if !dir {
			target = filepath.Dir(path)
		}
		if msg := sb.writeProblem(target); msg != "" {
			r.Problems = append(r.Problems, fmt.Sprintf("%s %s: %s cannot write %s: %s", key, path, where, target, msg))
		}
	}
	read := func(key, path string) {
		if msg := sb.readProblem(path); msg != "" {
			r.Problems = append(r.Problems, fmt.Sprintf("%s %s: %s cannot read it: %s", key, path, where, msg))
		}
	}
	if cfg.AccessLog != "stderr" && cfg.AccessLog != "off" {
		write("access_log", cfg.AccessLog, false)
	}
	if cfg.Admin != "" {
		write("admin", cfg.Admin, false)
	}
	for _, l := range cfg.Listen {
		if l.TLS {
			read("tls.certs_dir", cfg.TLS.CertsDir)
			break
		}
	}
	read("acme_challenge_dir", cfg.ACMEChallengeDir)
	read("endpoints.file", cfg.Endpoints.File)
	for _, name := range sortedNames(cfg.Upstreams) {
		if u := cfg.Upstreams[name]; u != nil && u.CAFile != "" {
			read("upstreams."+name+".ca_file", u.CAFile)
		}
	}
	return r
}

// sandbox is what a unit file says about the file system its service sees.
type sandbox struct {
	user          string
	protectSystem string   // "", "yes", "full" or "strict"
	protectHome   string   // "", "yes", "read-only" or "tmpfs"
	privateTmp    bool     // /tmp and /var/tmp are the service's own
	managed       []string // RuntimeDirectory= and friends: created for the User
	readWrite     []string // ReadWritePaths=
	readOnly      []string // ReadOnlyPaths=
	hidden        []string // InaccessiblePaths=
}

func parseUnit(data []byte) sandbox {
	var sb sandbox
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), "=")
		if !ok || strings.HasPrefix(k, "#") {
			continue
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		switch k {
		case "User":
			sb.user = v
		case "ProtectSystem":
			sb.protectSystem = v
			if v == "true" {
				sb.protectSystem = "yes"
			}
		case "ProtectHome":
			sb.protectHome = v
			if v == "true" {
				sb.protectHome = "yes"
			}
		case "PrivateTmp":
			sb.privateTmp = v == "yes" || v == "true"
		case "RuntimeDirectory", "StateDirectory", "LogsDirectory", "CacheDirectory", "ConfigurationDirectory":
			base := map[string]string{"RuntimeDirectory": "/run", "StateDirectory": "/var/lib",
				"LogsDirectory": "/var/log", "CacheDirectory": "/var/cache", "ConfigurationDirectory": "/etc"}[k]
			for _, d := range strings.Fields(v) {
				sb.managed = append(sb.managed, filepath.Join(base, d))
			}
		case "ReadWritePaths":
			sb.readWrite = append(sb.readWrite, unitPaths(v)...)
		case "ReadOnlyPaths":
			sb.readOnly = append(sb.readOnly, unitPaths(v)...)
		case "InaccessiblePaths":
			sb.hidden = append(sb.hidden, unitPaths(v)...)
		}
	}
	return sb
}

// unitPaths splits a path list, dropping the "-" and "+" prefixes.
func unitPaths(v string) []string {
	var out []string
	for _, p := range strings.Fields(v) {
		out = append(out, strings.TrimLeft(p, "-+"))
	}
	return out
}

func under(path string, dirs ...string) bool {
	for _, d := range dirs {
		if path == d || strings.HasPrefix(path, strings.TrimSuffix(d, "/")+"/") {
			return true
		}
	}
	return false
}

// readProblem says why the service could not read path, or "".
func (sb sandbox) readProblem(path string) string {
	switch {
	case under(path, sb.hidden...):
		return "InaccessiblePaths= hides it"
	case sb.protectHome != "" && sb.protectHome != "no" && sb.protectHome != "read-only" && under(path, "/home", "/root", "/run/user"):
		return "ProtectHome=" + sb.protectHome + " hides /home, /root and /run/user from the agent; move it (e.g. under /etc/edgectl or /var/lib/edgectl)"
	case sb.privateTmp && under(path, "/tmp", "/var/tmp"):
		return "PrivateTmp=yes gives the agent its own empty /tmp and /var/tmp; move it (e.g. under /var/lib/edgectl)"
	}
	return ""
}

// writeProblem says why the service could not create files in dir, or "".
func (sb sandbox) writeProblem(dir string) string {
	if msg := sb.readProblem(dir); msg != "" {
		return msg
	}
	if under(dir, sb.managed...) {
		return "" // systemd creates it for the unit's User
	}
	if under(dir, sb.readOnly...) {
		return "ReadOnlyPaths= makes it read-only"
	}
	writable := !under(dir, "/usr", "/boot", "/efi")
	switch sb.protectSystem {
	case "full":
		writable = writable && !under(dir, "/etc")
	case "strict":
		writable = under(dir, sb.readWrite...) || under(dir, "/dev/shm")
	}
	if !writable {
		return fmt.Sprintf("ProtectSystem=%s makes it read-only for the agent; use a path under %s or add it to the unit's ReadWritePaths",
			sb.protectSystem, strings.Join(append(append([]string{}, sb.managed...), sb.readWrite...), " or "))
	}
	return sb.permissionProblem(dir)
}

// permissionProblem checks the nearest existing directory of dir against
// the unit's User (owner, group and mode bits; ACLs are not read).
func (sb sandbox) permissionProblem(dir string) string {
	if sb.user == "" || sb.user == "root" {
		return ""
	}
	u, err := user.Lookup(sb.user)
	if err != nil {
		return "" // the user does not exist yet: deploy creates it
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	d := dir
	for {
		fi, err := os.Stat(d)
		if err == nil {
			st, ok := fi.Sys().(*syscall.Stat_t)
			if !ok || !fi.IsDir() {
				return ""
			}
			m := fi.Mode().Perm()
			if (int(st.Uid) == uid && m&0o200 != 0) || (int(st.Gid) == gid && m&0o020 != 0) || m&0o002 != 0 {
				return ""
			}
			return fmt.Sprintf("%s is %s owned by uid %d gid %d: user %s cannot create files in it; chown it to %s or use a path under %s",
				d, m, st.Uid, st.Gid, sb.user, sb.user, strings.Join(sb.managed, " or "))
		}
		if !errors.Is(err, fs.ErrNotExist) || d == "/" {
			return ""
		}
		d = filepath.Dir(d)
	}
}

func sortedNames(m map[string]*agentconfig.Upstream) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j] < out[j-1]; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}
