package provision

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"

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
	// Sums maps each managed file that exists to its SHA-256 (hex).
	Sums map[string]string `json:"-"`
}

// factsScript prints key=value lines and "sum <hex>  <path>" lines; one
// round-trip whatever the number of files. It must run under any POSIX sh.
func factsScript(l Layout, files []string) string {
	var b strings.Builder
	b.WriteString(`set +e
echo "arch=$(uname -m)"
if [ -r /etc/os-release ]; then . /etc/os-release; echo "os=$ID $VERSION_ID"; fi
echo "pid1=$(cat /proc/1/comm 2>/dev/null)"
echo "bindv6only=$(cat /proc/sys/net/ipv6/bindv6only 2>/dev/null || echo -1)"
echo "disable_ipv6=$(cat /proc/sys/net/ipv6/conf/all/disable_ipv6 2>/dev/null || echo 1)"
if grep -q '^00000000000000000000000000000001 ' /proc/net/if_inet6 2>/dev/null; then echo lo6=1; else echo lo6=0; fi
if id -u edgectl >/dev/null 2>&1; then echo user=1; else echo user=0; fi
`)
	fmt.Fprintf(&b, "if [ -x %[1]s ]; then echo \"version=$(%[1]s version 2>/dev/null | head -n1)\"; fi\n", remote.ShellQuote(l.Binary))
	fmt.Fprintf(&b, "echo \"active=$(systemctl is-active %s 2>/dev/null)\"\n", AgentUnitName)
	b.WriteString("for f in")
	for _, f := range files {
		b.WriteString(" " + remote.ShellQuote(f))
	}
	b.WriteString("; do [ -f \"$f\" ] && echo \"sum $(sha256sum \"$f\")\"; done\nexit 0\n")
	return b.String()
}

// Gather learns the host's facts and the hashes of files in one command.
func Gather(ctx context.Context, h remote.Host, l Layout, files []string) (Facts, error) {
	res, err := h.Run(ctx, factsScript(l, files), nil)
	if err != nil {
		return Facts{}, fmt.Errorf("gather facts: %w", err)
	}
	return parseFacts(res.Stdout)
}

func parseFacts(out []byte) (Facts, error) {
	f := Facts{Sums: map[string]string{}, BindV6Only: -1}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "sum "); ok {
			sum, file, ok := strings.Cut(rest, "  ")
			if ok && len(sum) == 64 {
				f.Sums[file] = sum
			}
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		switch k {
		case "arch":
			f.Arch = goArch(v)
		case "os":
			f.OS = v
		case "pid1":
			f.Systemd = v == "systemd"
		case "bindv6only":
			if n, err := strconv.Atoi(v); err == nil {
				f.BindV6Only = n
			}
		case "disable_ipv6":
			f.IPv6 = v == "0"
		case "lo6":
			f.Loopback6 = v == "1"
		case "user":
			f.User = v == "1"
		case "version":
			f.Version = v
		case "active":
			f.Active = v
		}
	}
	if f.Arch == "" {
		return f, fmt.Errorf("gather facts: no output from uname -m (is /bin/sh a POSIX shell?)")
	}
	return f, nil
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
	case "riscv64", "ppc64le", "s390x", "loong64":
		return m
	}
	return m
}
