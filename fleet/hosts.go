package fleet

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
)

// validateHosts checks every host and what must be unique across hosts:
// names, IPv4 and IPv6 addresses, and where SSH connects.
func (f *Fleet) validateHosts(is *issues) {
	if len(f.Hosts) == 0 {
		is.add("hosts", "the fleet has no hosts; list at least one under hosts:, each with a name and an ipv4, ipv6 or ssh_address")
		return
	}
	names := map[string]int{}
	addrs := map[netip.Addr]string{}
	targets := map[string]int{}
	for i, h := range f.Hosts {
		p := fmt.Sprintf("hosts[%d]", i)
		switch {
		case h.Name == "":
			is.add(p, "host needs a name (letters, digits and hyphens, e.g. edge-1)")
		case !validLabel(h.Name):
			is.add(p+".name", "name %q must be letters, digits and hyphens (at most 63), not starting or ending with a hyphen", h.Name)
		default:
			if j, dup := names[h.Name]; dup {
				is.add(p+".name", "host name %q is already used by hosts[%d]; names must be unique", h.Name, j)
			} else {
				names[h.Name] = i
			}
		}
		for _, fam := range []struct {
			key, val string
		}{{FamilyIPv4, h.IPv4}, {FamilyIPv6, h.IPv6}} {
			if fam.val == "" {
				continue
			}
			fp := p + "." + fam.key
			a, err := checkFamily(fam.key, fam.val)
			if err != nil {
				is.add(fp, "%v", err)
				continue
			}
			if prev, dup := addrs[a]; dup {
				is.add(fp, "%s is already the address of %s; every host needs its own addresses", fam.val, prev)
				continue
			}
			addrs[a] = fmt.Sprintf("%s (%s)", p, h.Name)
		}
		if h.SSHAddress != "" {
			if _, _, err := splitHostPort(h.SSHAddress); err != nil {
				is.add(p+".ssh_address", "ssh_address: %v", err)
			}
		}
		if h.IPv4 == "" && h.IPv6 == "" && h.SSHAddress == "" {
			is.add(p, "host has no address; set ipv4, ipv6 or ssh_address")
		}
		if t := h.SSHAddr(f.SSH.Port); t != "" {
			// Same ipv4 or ipv6 is reported above; this catches the
			// same place reached through an ssh_address.
			j, dup := targets[t]
			if dup && (h.SSHAddress != "" || f.Hosts[j].SSHAddress != "") {
				is.add(p+".ssh_address", "SSH would connect to %s for both hosts[%d] and this host; give each host its own ssh_address", t, j)
			} else if !dup {
				targets[t] = i
			}
		}
		seen := map[string]bool{}
		for j, l := range h.Labels {
			lp := fmt.Sprintf("%s.labels[%d]", p, j)
			switch {
			case !isWord(l, true):
				is.add(lp, "label %q must be 1-63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit", l)
			case seen[l]:
				is.add(lp, "label %q is listed twice", l)
			}
			seen[l] = true
		}
	}
}

// checkFamily parses an ipv4: or ipv6: value and says what to do when it
// is the wrong family or not a host address.
func checkFamily(family, s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		if family == FamilyIPv4 {
			return a, fmt.Errorf("ipv4 %q is not an IPv4 address (e.g. 192.0.2.10)", s)
		}
		return a, fmt.Errorf("ipv6 %q is not an IPv6 address (e.g. 2001:db8::10)", s)
	}
	switch {
	case a.Is4In6():
		return a, fmt.Errorf("%s %q is an IPv4-mapped IPv6 address; write %s under ipv4", family, s, a.Unmap())
	case family == FamilyIPv4 && a.Is6():
		return a, fmt.Errorf("ipv4 %q is an IPv6 address; move it to ipv6", s)
	case family == FamilyIPv6 && a.Is4():
		return a, fmt.Errorf("ipv6 %q is an IPv4 address; move it to ipv4", s)
	}
	if err := checkHostIP(a); err != nil {
		return a, fmt.Errorf("%s: %v", family, err)
	}
	return a, nil
}

// SSHAddr is host:port where SSH connects to the host: ssh_address (with
// its own port, if it names one), else ipv4, else ipv6, on defaultPort
// (normally f.SSH.Port). IPv6 literals come out in brackets. It is "" for
// a host without a usable address.
func (h Host) SSHAddr(defaultPort int) string {
	port := strconv.Itoa(defaultPort)
	host := h.IPv4
	switch {
	case h.SSHAddress != "":
		var p int
		var err error
		if host, p, err = splitHostPort(h.SSHAddress); err != nil {
			return ""
		}
		if p != 0 {
			port = strconv.Itoa(p)
		}
	case h.IPv4 == "":
		host = h.IPv6
	}
	if host == "" {
		return ""
	}
	if a, err := netip.ParseAddr(host); err == nil {
		host = a.String() // one spelling, so equal addresses compare equal
	}
	return net.JoinHostPort(host, port)
}

// Address families, as Families reports them and sweep names its probes.
const (
	FamilyIPv4 = "ipv4"
	FamilyIPv6 = "ipv6"
)

// Families lists the address families the host is reachable on: "ipv4"
// when it has an ipv4 address, then "ipv6" when it has an ipv6 address.
func (h Host) Families() []string {
	var out []string
	if h.IPv4 != "" {
		out = append(out, FamilyIPv4)
	}
	if h.IPv6 != "" {
		out = append(out, FamilyIPv6)
	}
	return out
}

// HasLabel reports whether the host carries label.
func (h Host) HasLabel(label string) bool {
	for _, l := range h.Labels {
		if l == label {
			return true
		}
	}
	return false
}
