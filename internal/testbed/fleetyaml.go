package testbed

import (
	"strconv"
	"strings"
)

// FleetYAML returns a fleet.yaml for this run: ssh as root with the run's
// identity_file and known_hosts, and every host with its addresses, followed
// by extra (more top-level keys such as agent:, backend:, rollout:).
func (b *Bed) FleetYAML(extra string) []byte {
	var s strings.Builder
	s.WriteString("# fleet.yaml of edgectl testbed " + b.st.Prefix + " (" + b.Dir + ")\n")
	s.WriteString("ssh:\n  user: root\n")
	s.WriteString("  identity_file: " + quote(b.IdentityFile) + "\n")
	s.WriteString("  known_hosts: " + quote(b.KnownHostsFile) + "\n")
	s.WriteString("hosts:\n")
	for _, h := range b.Hosts {
		s.WriteString("  - name: " + h.Name + "\n")
		if h.IPv4 != "" {
			s.WriteString("    ipv4: " + quote(h.IPv4) + "\n")
		}
		if h.IPv6 != "" {
			s.WriteString("    ipv6: " + quote(h.IPv6) + "\n")
		}
	}
	if extra != "" {
		s.WriteString(extra)
		if !strings.HasSuffix(extra, "\n") {
			s.WriteByte('\n')
		}
	}
	return []byte(s.String())
}

// quote makes s a YAML double-quoted string; $ is doubled because fleet.Load
// expands ${VAR}.
func quote(s string) string {
	return strconv.Quote(strings.ReplaceAll(s, "$", "$$"))
}
