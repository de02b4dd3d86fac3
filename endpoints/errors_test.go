package endpoints

import (
	"errors"
	"strings"
	"testing"
)

// TestParseErrors covers every kind of invalid value, with its line and column.
func TestParseErrors(t *testing.T) {
	long := strings.Repeat("a", 64)
	tooLong := strings.Repeat("abcdefghi.", 24) + "example1234567" // 254 characters
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"value before any marker", "# header\n  api.example.com\n", `endpoints.txt:2:3: "api.example.com" comes before any section marker: put DomainList: or IPList: above it`},
		{"unknown section marker", "DomainList:\n  Servers:  # typo\n", `endpoints.txt:2:3: unknown section marker "Servers:": use DomainList: or IPList:`},
		{"a key: value line is a section, not a port", "DomainList:\na.example\nFoo: bar\n", `endpoints.txt:3:1: unknown section marker "Foo:": use DomainList: or IPList:`},
		{"a colon without a port", "DomainList:\nfoo:bar\n", `endpoints.txt:2:1: "foo:bar" is not a valid hostname: label "foo:bar" contains ':'`},
		{"empty file", "", `endpoints.txt:1: no domains or IPs: clients would get an empty list and nowhere to fail over to; add at least one under DomainList: or IPList:`},
		{"only markers and comments", "# none yet\nDomainList:\nIPList:\n", `endpoints.txt:1: no domains or IPs: clients would get an empty list and nowhere to fail over to; add at least one under DomainList: or IPList:`},
		{"space inside a hostname", "DomainList:\nok.example\nxx, ex ample.com\n", `endpoints.txt:3:5: "ex ample.com" is not a valid hostname: label "ex ample" contains ' '`},
		{"underscore", "DomainList:\nmy_host.example", `endpoints.txt:2:1: "my_host.example" is not a valid hostname: label "my_host" contains '_'`},
		{"leading hyphen", "DomainList:\n-a.example", `endpoints.txt:2:1: "-a.example" is not a valid hostname: label "-a" starts with a hyphen`},
		{"trailing hyphen", "DomainList:\na-.example", `endpoints.txt:2:1: "a-.example" is not a valid hostname: label "a-" ends with a hyphen`},
		{"empty label", "DomainList:\na..example", `endpoints.txt:2:1: "a..example" is not a valid hostname: empty label (two dots in a row, or a leading dot)`},
		{"leading dot", "DomainList:\n.example", `endpoints.txt:2:1: ".example" is not a valid hostname: empty label (two dots in a row, or a leading dot)`},
		{"label over 63", "DomainList:\n" + long + ".example", `endpoints.txt:2:1: "` + long + `.example" is not a valid hostname: label "` + long + `" is 64 characters, more than 63`},
		{"name over 253", "DomainList:\n" + tooLong, `endpoints.txt:2:1: "` + tooLong + `" is not a valid hostname: 254 characters, more than 253`},
		{"trailing dot", "DomainList:\napi.example.com.", `endpoints.txt:2:1: "api.example.com." is not a valid hostname: remove the trailing dot`},
		{"URL instead of host", "DomainList:\nhttps://api.example.com/v1", `endpoints.txt:2:1: "https://api.example.com/v1" is not a valid hostname: write the bare hostname, without scheme or path`},
		{"host with port", "DomainList:\napi.example.com:8443", `endpoints.txt:2:1: "api.example.com:8443" is not a valid hostname: remove the port "8443"; ports come from the default port setting`},
		{"IPv4 under DomainList", "DomainList:\n192.0.2.1", `endpoints.txt:2:1: "192.0.2.1" is not a valid hostname: it is an IP address; list it under the IPList section`},
		{"IPv6 under DomainList", "DomainList: 2001:db8::1", `endpoints.txt:1:13: "2001:db8::1" is not a valid hostname: it is an IP address; list it under the IPList section`},
		{"all-digit top-level label", "DomainList:\nhost.123", `endpoints.txt:2:1: "host.123" is not a valid hostname: top-level label "123" is all digits`},
		{"non-ASCII", "DomainList:\nbücher.example", `endpoints.txt:2:1: "bücher.example" is not a valid hostname: label "bücher" is not ASCII; use its punycode (xn--) form`},
		{"IPv4 out of range", "IPList:\n192.0.2.1, 192.0.2.300", `endpoints.txt:2:12: "192.0.2.300" is not a valid IP address`},
		{"IPv6 zone", "IPList:\nfe80::1%eth0", `endpoints.txt:2:1: "fe80::1%eth0" is not a valid IP address: remove the zone "%eth0"; a zone only means something on one host`},
		{"bracketed IPv6", "IPList:\n[2001:db8::1]", `endpoints.txt:2:1: "[2001:db8::1]" is not a valid IP address: remove the brackets`},
		{"IP with port", "IPList:\n[2001:db8::1]:443", `endpoints.txt:2:1: "[2001:db8::1]:443" is not a valid IP address: remove the port 443; ports come from the default port setting`},
		{"prefix", "IPList:\n192.0.2.0/24", `endpoints.txt:2:1: "192.0.2.0/24" is not a valid IP address: a network prefix is not an address`},
		{"hostname under IPList", "IPList:\napi.example.com", `endpoints.txt:2:1: "api.example.com" is not a valid IP address: it is a hostname; list it under the DomainList section`},
		{"unspecified", "IPList:\n::", `endpoints.txt:2:1: "::" is not a valid IP address: the unspecified address cannot be connected to`},
		{"multicast", "IPList:\n224.0.0.1", `endpoints.txt:2:1: "224.0.0.1" is not a valid IP address: a multicast address cannot be an endpoint`},
		{"column counts tabs as one byte", "IPList:\n\t\tnope # x", `endpoints.txt:2:3: "nope" is not a valid IP address: it is a hostname; list it under the DomainList section`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := Parse("endpoints.txt", strings.NewReader(tt.in))
			if err == nil {
				t.Fatalf("Parse = %+v, want error %s", l, tt.want)
			}
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %T is not a *ParseError", err)
			}
			if got := err.Error(); got != tt.want {
				t.Errorf("error:\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}

// TestParseCollectsAllErrors checks that one bad line does not hide the next,
// and that duplicates of valid values are not errors.
func TestParseCollectsAllErrors(t *testing.T) {
	in := "x.example\nDomainList:\na.example, b_c, a.example\nIPList:\n1.2.3, 2001:db8::1, 2001:db8::1%1\n"
	_, err := Parse("endpoints.txt", strings.NewReader(in))
	var pe *ParseError
	if !errors.As(err, &pe) {
		t.Fatalf("Parse error = %v, want *ParseError", err)
	}
	want := []Problem{
		{Line: 1, Col: 1, Msg: `"x.example" comes before any section marker: put DomainList: or IPList: above it`},
		{Line: 3, Col: 12, Msg: `"b_c" is not a valid hostname: label "b_c" contains '_'`},
		{Line: 5, Col: 1, Msg: `"1.2.3" is not a valid IP address`},
		{Line: 5, Col: 21, Msg: `"2001:db8::1%1" is not a valid IP address: remove the zone "%1"; a zone only means something on one host`},
	}
	if len(pe.Problems) != len(want) {
		t.Fatalf("got %d problems, want %d:\n%v", len(pe.Problems), len(want), err)
	}
	for i := range want {
		if pe.Problems[i] != want[i] {
			t.Errorf("problem %d = %+v, want %+v", i, pe.Problems[i], want[i])
		}
	}
}
