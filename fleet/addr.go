package fleet

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"unicode"
)

// splitHostPort splits "host", "host:port", "[v6]", "[v6]:port" or a bare
// IPv6 literal into host and port (0 when absent), checking that host is
// an IP address or a hostname and the port is 1-65535.
func splitHostPort(s string) (host string, port int, err error) {
	if s == "" {
		return "", 0, errors.New("empty address")
	}
	if strings.Contains(s, "://") {
		return "", 0, fmt.Errorf("%q is a URL; write only the host (and :port)", s)
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return s, 0, checkHostIP(a)
	}
	host, portStr := s, ""
	switch {
	case strings.HasPrefix(s, "["):
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return "", 0, fmt.Errorf("%q has [ without ]", s)
		}
		host, rest := s[1:end], s[end+1:]
		a, err := netip.ParseAddr(host)
		if err != nil || !a.Is6() {
			return "", 0, fmt.Errorf("%q: only an IPv6 address goes in brackets", s)
		}
		if err := checkHostIP(a); err != nil {
			return "", 0, err
		}
		if rest == "" {
			return host, 0, nil
		}
		if !strings.HasPrefix(rest, ":") {
			return "", 0, fmt.Errorf("%q: expected :port after ]", s)
		}
		port, err := checkPort(rest[1:])
		return host, port, err
	case strings.Count(s, ":") == 1:
		var err error
		host, portStr, err = net.SplitHostPort(s)
		if err != nil {
			return "", 0, fmt.Errorf("%q is not host:port", s)
		}
	case strings.Contains(s, ":"):
		return "", 0, fmt.Errorf("%q is not an address; an IPv6 address with a port goes in brackets, e.g. [2001:db8::1]:22", s)
	}
	if a, err := netip.ParseAddr(host); err == nil {
		if err := checkHostIP(a); err != nil {
			return "", 0, err
		}
	} else if !validHostname(host) {
		return "", 0, fmt.Errorf("%q is neither an IP address nor a hostname", host)
	}
	if portStr == "" {
		if strings.HasSuffix(s, ":") {
			return "", 0, fmt.Errorf("%q has an empty port", s)
		}
		return host, 0, nil
	}
	port, err = checkPort(portStr)
	return host, port, err
}

func checkPort(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 65535 || strings.HasPrefix(s, "+") {
		return 0, fmt.Errorf("port %q must be a number 1-65535", s)
	}
	return n, nil
}

// checkHostIP rejects addresses nothing can connect to.
func checkHostIP(a netip.Addr) error {
	switch {
	case a.Zone() != "":
		return fmt.Errorf("%s: zones (%%%s) are not allowed; use a global address", a, a.Zone())
	case a.IsUnspecified():
		return fmt.Errorf("%s is the unspecified address, not a host", a)
	case a.IsMulticast():
		return fmt.Errorf("%s is a multicast address, not a host", a)
	case a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return fmt.Errorf("%s is the broadcast address, not a host", a)
	}
	return nil
}

// checkHostPort accepts host:port (IPv6 in brackets) with host an IP
// address or a hostname; the port is required when needPort is set.
func checkHostPort(s string, needPort bool) error {
	_, port, err := splitHostPort(s)
	if err != nil {
		return err
	}
	if needPort && port == 0 {
		return fmt.Errorf("%q has no port", s)
	}
	return nil
}

// checkJump accepts [user@]host[:port].
func checkJump(s string) error {
	user, hostport, ok := strings.Cut(s, "@")
	if !ok {
		hostport, user = user, ""
	} else if user == "" || strings.ContainsAny(user, "@: \t/") || !printable(user) {
		return fmt.Errorf("%q is not [user@]host[:port]", s)
	}
	if _, _, err := splitHostPort(hostport); err != nil {
		return fmt.Errorf("%q is not [user@]host[:port]: %v", s, err)
	}
	return nil
}

// checkDomain accepts a hostname, or "*.name" when wildcard is set.
func checkDomain(d string, wildcard bool) error {
	if _, err := netip.ParseAddr(d); err == nil {
		return fmt.Errorf("%q is an IP address; list names here (addresses go under endpoints.ips)", d)
	}
	name := d
	if wildcard {
		name = strings.TrimPrefix(d, "*.")
	}
	if strings.HasSuffix(d, ".") && validHostname(strings.TrimSuffix(name, ".")) {
		return fmt.Errorf("%q: remove the trailing dot", d)
	}
	if !validHostname(name) || !strings.Contains(name, ".") {
		if wildcard {
			return fmt.Errorf("%q is not a domain name such as api.example.com (a wildcard is allowed only as *.example.com)", d)
		}
		return fmt.Errorf("%q is not a domain name such as api.example.com", d)
	}
	return nil
}

// validHostname reports whether h is a DNS hostname (RFC 1123): dot
// separated labels, and a last label that is not all digits, so that it
// cannot be mistaken for an IPv4 address.
func validHostname(h string) bool {
	if len(h) == 0 || len(h) > 253 {
		return false
	}
	labels := strings.Split(h, ".")
	for _, l := range labels {
		if !validLabel(l) {
			return false
		}
	}
	last := labels[len(labels)-1]
	return strings.Trim(last, "0123456789") != ""
}

// validLabel reports whether l is an RFC 1123 label: 1-63 letters, digits
// and hyphens, not starting or ending with a hyphen.
func validLabel(l string) bool {
	if len(l) == 0 || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
		return false
	}
	for _, c := range []byte(l) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// isWord reports whether s is 1-63 of letters (lowercase unless upper),
// digits, '-', '_' and '.', starting and ending with a letter or digit.
func isWord(s string, upper bool) bool {
	if len(s) == 0 || len(s) > 63 {
		return false
	}
	alnum := func(c byte) bool {
		return c >= 'a' && c <= 'z' || upper && c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
	}
	if !alnum(s[0]) || !alnum(s[len(s)-1]) {
		return false
	}
	for _, c := range []byte(s) {
		if !alnum(c) && c != '-' && c != '_' && c != '.' {
			return false
		}
	}
	return true
}

// printable reports whether s is non-empty and has no control characters.
func printable(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

func quote(s string) string { return strconv.Quote(s) }
