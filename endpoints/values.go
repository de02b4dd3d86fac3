package endpoints

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"unicode/utf8"
)

// checkHostname reports why s is not an RFC 1123 hostname: labels of 1 to 63
// letters, digits and hyphens, not starting or ending with a hyphen, at most
// 253 characters in all. A trailing dot (a fully qualified name) is refused
// because it would end up in every client URL. A dotted-decimal name such as
// 192.0.2.1 is refused too (RFC 1123 section 2.1): it belongs under IPList.
// The error says what to change.
func checkHostname(s string) error {
	if strings.Contains(s, "://") || strings.Contains(s, "/") {
		return errors.New("write the bare hostname, without scheme or path")
	}
	if _, err := netip.ParseAddr(strings.Trim(s, "[]")); err == nil {
		return errors.New("it is an IP address; list it under the IPList section")
	}
	if host, port, err := net.SplitHostPort(s); err == nil && allDigits(port) && checkHostname(host) == nil {
		return fmt.Errorf("remove the port %q; ports come from the default port setting", port)
	}
	if strings.HasSuffix(s, ".") {
		return errors.New("remove the trailing dot")
	}
	if len(s) > 253 {
		return fmt.Errorf("%d characters, more than 253", len(s))
	}
	labels := strings.Split(s, ".")
	for _, l := range labels {
		if err := checkLabel(l); err != nil {
			return err
		}
	}
	if top := labels[len(labels)-1]; allDigits(top) {
		return fmt.Errorf("top-level label %q is all digits", top)
	}
	return nil
}

// checkLabel reports why l is not a valid hostname label.
func checkLabel(l string) error {
	switch {
	case l == "":
		return errors.New("empty label (two dots in a row, or a leading dot)")
	case len(l) > 63:
		return fmt.Errorf("label %q is %d characters, more than 63", l, len(l))
	case l[0] == '-':
		return fmt.Errorf("label %q starts with a hyphen", l)
	case l[len(l)-1] == '-':
		return fmt.Errorf("label %q ends with a hyphen", l)
	}
	for i := 0; i < len(l); i++ {
		c := l[i]
		if isLetter(c) || isDigit(c) || c == '-' {
			continue
		}
		if c >= utf8.RuneSelf {
			return fmt.Errorf("label %q is not ASCII; use its punycode (xn--) form", l)
		}
		return fmt.Errorf("label %q contains %q", l, c)
	}
	return nil
}

// errNotIP is parseIP's error when it has nothing more specific to say.
var errNotIP = errors.New("not an IPv4 or IPv6 literal")

// parseIP parses an IPv4 or IPv6 literal that a client can connect to. The
// error says what to change.
func parseIP(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
			if _, err := netip.ParseAddr(s[1 : len(s)-1]); err == nil {
				return netip.Addr{}, errors.New("remove the brackets")
			}
		}
		if ap, err := netip.ParseAddrPort(s); err == nil {
			return netip.Addr{}, fmt.Errorf("remove the port %d; ports come from the default port setting", ap.Port())
		}
		if _, err := netip.ParsePrefix(s); err == nil {
			return netip.Addr{}, errors.New("a network prefix is not an address")
		}
		if checkHostname(s) == nil {
			return netip.Addr{}, errors.New("it is a hostname; list it under the DomainList section")
		}
		return netip.Addr{}, errNotIP
	}
	switch {
	case a.Zone() != "":
		return netip.Addr{}, fmt.Errorf("remove the zone %q; a zone only means something on one host", "%"+a.Zone())
	case a.IsUnspecified():
		return netip.Addr{}, errors.New("the unspecified address cannot be connected to")
	case a.IsMulticast():
		return netip.Addr{}, errors.New("a multicast address cannot be an endpoint")
	}
	return a, nil
}

func isLetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return s != ""
}
