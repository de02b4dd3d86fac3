package provision

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"

	"github.com/edgectl/edgectl/fleet"
	"github.com/edgectl/edgectl/remote"
)

// Facts is what deploy learns about a host before planning.
type Facts struct {
	// Arch is the Go architecture name (amd64, arm64, …) from uname -m.
	Arch string `json:"arch"`
	// OS is "<ID> <VERSION_ID>" from /etc/os-release.
	OS string `json:"os"`
	// Systemd is true when PID 1 is systemd.
	Systemd bool `json:"systemd"`
	// BindV6Only is net.ipv6.bindv6only (-1 when IPv6 is absent).
	BindV6Only int `json:"bindv6only"`
	// IPv6 is false when disable_ipv6 is set or the kernel has no IPv6.
	IPv6 bool `json:"ipv6"`
	// Loopback6 is true when ::1 is configured on lo.
	Loopback6 bool `json:"loopback6"`
	// User is true when the edgectl system user exists.
	User bool `json:"user"`
	// Version is what the installed binary's `version` printed ("" if
	// none is installed).
	Version string `json:"version,omitempty"`
	// Active is `systemctl is-active` of the agent unit.
	Active string `json:"active"`
	// Agent is what the running agent says on its admin socket (nil when
	// it does not answer).
	Agent *AgentFacts `json:"agent,omitempty"`
	// Backend is the backend unit's state ("" when none is configured or
	// systemd does not know it).
	Backend *UnitState `json:"backend,omitempty"`
	// Sums maps each managed file that exists to its SHA-256 (hex).
	Sums map[string]string `json:"-"`
	// Files holds each managed file's mode, owner and size.
	Files map[string]FileFacts `json:"-"`
	// Free is the space available (bytes) in each managed directory, or
	// its nearest existing parent.
	Free map[string]int64 `json:"-"`
	// StaleTemps are temporary files of earlier runs (".*.edgectl.tmp-*")
	// next to managed files: a cut-off upload leaves them.
	StaleTemps []string `json:"stale_temps,omitempty"`
	// Journal is the last deploy's journal on the host (nil: none).
	Journal *Journal `json:"journal,omitempty"`
	// BackendHost is what the host has that the backend needs: the stat
	// of its program, working_dir, env_file and read_write_paths (never
	// their contents), and whether its user and group exist.
	BackendHost fleet.BackendHost `json:"-"`
	// Holders are other programs listening on the agent's ports
	// (GatherHolders; portholders.go).
	Holders []PortHolder `json:"-"` // shown as the plan's holders
}

// FileFacts is a managed file's metadata on the host.
type FileFacts struct {
	Mode  fs.FileMode `json:"mode"`
	Owner string      `json:"owner"`
	Size  int64       `json:"size"`
}

// AgentFacts is the part of the agent's GET /status deploy reads.
type AgentFacts struct {
	Version string `json:"version"`
	// ConfigSHA256 is the hash of the config the agent loaded ("" for an
	// agent too old to say).
	ConfigSHA256 string `json:"config_sha256"`
	Draining     bool   `json:"draining"`
}

// gatherSpec says what Gather asks for besides the fixed facts.
type gatherSpec struct {
	files   []string       // managed files
	admin   string         // the agent's admin socket ("" = none)
	backend *fleet.Backend // nil = none
}

// factsScript prints sections ("::name" lines, each followed by one
// command's output), so that any command failing only empties its own
// section. It uses only simple commands (no pipes, no substitutions), so
// the recording fake host runs it as a shell does.
func factsScript(l Layout, sp gatherSpec) string {
	q := remote.ShellQuote
	var b strings.Builder
	// The empty echo ends a file printed without a final newline.
	sec := func(name, cmd string) { fmt.Fprintf(&b, "echo\necho '::%s'\n%s\n", name, cmd) }
	sec("arch", "uname -m")
	sec("os", "cat -- /etc/os-release 2>/dev/null")
	sec("pid1", "cat -- /proc/1/comm 2>/dev/null")
	sec("bindv6only", "cat -- /proc/sys/net/ipv6/bindv6only 2>/dev/null")
	sec("disable_ipv6", "cat -- /proc/sys/net/ipv6/conf/all/disable_ipv6 2>/dev/null")
	sec("if_inet6", "cat -- /proc/net/if_inet6 2>/dev/null")
	sec("user", "id -u edgectl 2>/dev/null")
	sec("version", "test -x "+q(l.Binary)+" && "+q(l.Binary)+" version 2>/dev/null")
	sec("active", "systemctl is-active -- "+AgentUnitName+" 2>/dev/null")
	if sp.backend != nil {
		sec("backend", "systemctl show -p ActiveState -p SubState -p NRestarts -p ExecMainStatus -p Result -- "+q(sp.backend.Name+".service")+" 2>/dev/null")
		backendFactsScript(sp.backend, sec)
	}
	files := make([]string, len(sp.files))
	for i, f := range sp.files {
		files[i] = q(f)
	}
	list := strings.Join(files, " ")
	sec("sums", "sha256sum -- "+list+" 2>/dev/null")
	sec("stat", "stat -c '%a %U:%G %s %n' -- "+list+" 2>/dev/null")
	for _, d := range spaceDirs(l, sp.files) {
		sec("df "+d, "df -Pk -- "+q(d)+" 2>/dev/null")
	}
	sec("temps", tempsCmd(l, sp.files))
	if sp.admin != "" {
		sec("status", "test -x "+q(l.Binary)+" && "+q(l.Binary)+" agent status --json --admin "+q(sp.admin)+" 2>/dev/null")
	}
	sec("journal", "cat -- "+q(l.Journal())+" 2>/dev/null")
	b.WriteString("echo\necho '::end'\n")
	return b.String()
}

// Gather learns the host's facts in one command; backend (nil = none)
// adds its unit's state and what the host has for it.
func Gather(ctx context.Context, h remote.Host, l Layout, files []string, admin string, backend *fleet.Backend) (Facts, error) {
	res, err := h.Run(ctx, factsScript(l, gatherSpec{files: files, admin: admin, backend: backend}), nil)
	if err != nil {
		return Facts{}, fmt.Errorf("gather facts: %w", err)
	}
	f, err := parseFacts(res.Stdout)
	if err == nil && backend != nil {
		f.BackendHost = parseBackendFacts(backend, sections(res.Stdout))
	}
	return f, err
}

// sections splits the facts script's output.
func sections(out []byte) map[string]string {
	m := map[string]string{}
	name := ""
	var cur strings.Builder
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	sc.Buffer(make([]byte, 64<<10), remote.MaxOutput+1024)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "::"); ok {
			if name != "" {
				m[name] = cur.String()
			}
			name = rest
			cur.Reset()
			continue
		}
		cur.WriteString(line)
		cur.WriteByte('\n')
	}
	if name != "" && name != "end" {
		m[name] = cur.String()
	}
	return m
}

func parseFacts(out []byte) (Facts, error) {
	s := sections(out)
	f := Facts{Sums: map[string]string{}, Files: map[string]FileFacts{}, Free: map[string]int64{}, BindV6Only: -1}
	first := func(k string) string {
		v, _, _ := strings.Cut(strings.TrimSpace(s[k]), "\n")
		return strings.TrimSpace(v)
	}
	f.Arch = goArch(first("arch"))
	if f.Arch == "" {
		return f, fmt.Errorf("gather facts: no output from uname -m (is /bin/sh a POSIX shell?)")
	}
	kv := map[string]string{}
	for line := range strings.Lines(s["os"]) {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), "="); ok {
			kv[k] = strings.Trim(v, `"'`)
		}
	}
	if kv["ID"] != "" {
		f.OS = strings.TrimSpace(kv["ID"] + " " + kv["VERSION_ID"])
	}
	f.Systemd = first("pid1") == "systemd"
	if n, err := strconv.Atoi(first("bindv6only")); err == nil {
		f.BindV6Only = n
	}
	f.IPv6 = first("disable_ipv6") == "0"
	for line := range strings.Lines(s["if_inet6"]) {
		if strings.HasPrefix(line, "00000000000000000000000000000001 ") {
			f.Loopback6 = true
		}
	}
	f.User = first("user") != ""
	f.Version = first("version")
	f.Active = first("active")
	if b, ok := s["backend"]; ok {
		if u := parseUnitState(b); u.ActiveState != "" {
			f.Backend = &u
		}
	}
	for line := range strings.Lines(s["sums"]) {
		sum, file, ok := strings.Cut(strings.TrimRight(line, "\n"), "  ")
		if ok && len(sum) == 64 {
			f.Sums[file] = sum
		}
	}
	for line := range strings.Lines(s["stat"]) {
		fields := strings.SplitN(strings.TrimRight(line, "\n"), " ", 4)
		if len(fields) != 4 {
			continue
		}
		mode, err1 := strconv.ParseUint(fields[0], 8, 32)
		size, err2 := strconv.ParseInt(fields[2], 10, 64)
		if err1 == nil && err2 == nil {
			f.Files[fields[3]] = FileFacts{Mode: fs.FileMode(mode), Owner: fields[1], Size: size}
		}
	}
	for k, v := range s {
		d, ok := strings.CutPrefix(k, "df ")
		if !ok {
			continue
		}
		lines := strings.Split(strings.TrimSpace(v), "\n")
		if len(lines) < 2 {
			continue
		}
		if fields := strings.Fields(lines[len(lines)-1]); len(fields) >= 4 {
			if kb, err := strconv.ParseInt(fields[3], 10, 64); err == nil {
				f.Free[d] = kb * 1024
			}
		}
	}
	f.StaleTemps = parseTemps(s["temps"])
	if st := strings.TrimSpace(s["status"]); st != "" {
		var a AgentFacts
		if json.Unmarshal([]byte(st), &a) == nil {
			f.Agent = &a
		}
	}
	if js := strings.TrimSpace(s["journal"]); js != "" {
		var j Journal
		if err := json.Unmarshal([]byte(js), &j); err == nil {
			f.Journal = &j
		} else {
			f.Journal = &Journal{State: JournalUnreadable, Error: err.Error()}
		}
	}
	return f, nil
}

// FreeFor is the free space for a file in dir: the figure of dir or of its
// nearest parent that was measured (-1 when unknown).
func (f Facts) FreeFor(dir string) int64 {
	for d := path.Clean(dir); ; d = path.Dir(d) {
		if n, ok := f.Free[d]; ok {
			return n
		}
		if d == "/" || d == "." {
			return -1
		}
	}
}

// goArch maps uname -m to GOARCH.
func goArch(m string) string {
	switch m {
	case "x86_64", "amd64":
		return "amd64"
	case "aarch64", "arm64":
		return "arm64"
	case "armv7l", "armv6l":
		return "arm"
	case "i686", "i386":
		return "386"
	}
	return m
}
