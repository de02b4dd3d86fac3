package diagnose

import (
	"context"
	"strconv"
	"strings"

	"github.com/edgectl/edgectl/remote"
)

// ipv6State is what the kernel says about IPv6 on the host.
type ipv6State struct {
	// BindV6Only is net.ipv6.bindv6only: -1 unknown (no IPv6 at all).
	BindV6Only int
	// DisableAll and DisableLo are net.ipv6.conf.{all,lo}.disable_ipv6.
	DisableAll, DisableLo int
	// Loopback is true when ::1 is configured on lo.
	Loopback bool
	// NoIPv6 is true when /proc/sys/net/ipv6 is missing (ipv6.disable=1).
	NoIPv6 bool
}

// readIPv6State reads the IPv6 sysctls and whether ::1 exists.
func readIPv6State(ctx context.Context, h remote.Host) ipv6State {
	st := ipv6State{BindV6Only: -1, DisableAll: -1, DisableLo: -1}
	read := func(p string) int {
		b, err := h.ReadFile(ctx, p)
		if err != nil {
			return -1
		}
		n, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil {
			return -1
		}
		return n
	}
	st.BindV6Only = read("/proc/sys/net/ipv6/bindv6only")
	st.DisableAll = read("/proc/sys/net/ipv6/conf/all/disable_ipv6")
	st.DisableLo = read("/proc/sys/net/ipv6/conf/lo/disable_ipv6")
	st.NoIPv6 = st.BindV6Only == -1 && st.DisableAll == -1
	if b, err := h.ReadFile(ctx, "/proc/net/if_inet6"); err == nil {
		st.Loopback = hasLoopback6(string(b))
	}
	return st
}

// hasLoopback6 finds ::1 in /proc/net/if_inet6.
func hasLoopback6(s string) bool {
	for line := range strings.Lines(s) {
		f := strings.Fields(line)
		if len(f) >= 1 && f[0] == "00000000000000000000000000000001" {
			return true
		}
	}
	return false
}

// disabled reports whether IPv6 is off for loopback traffic.
func (s ipv6State) disabled() bool {
	return s.NoIPv6 || s.DisableAll == 1 || s.DisableLo == 1 || !s.Loopback
}
