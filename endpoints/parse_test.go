package endpoints

import (
	"errors"
	"io/fs"
	"net/netip"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
)

func addrs(ss ...string) []netip.Addr {
	out := []netip.Addr{}
	for _, s := range ss {
		out = append(out, netip.MustParseAddr(s))
	}
	return out
}

func TestParse(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		domains  []string
		ips      []netip.Addr
		warnings []Problem
	}{
		{
			name:    "spec example",
			in:      "# comments start with #\nDomainList:\nlog.ym1.com\nym2.xyz\nxx,ym3.net\nIPList:\n12.34.56.78\n2001:db8::7\n",
			domains: []string{"log.ym1.com", "ym2.xyz", "xx", "ym3.net"},
			ips:     addrs("12.34.56.78", "2001:db8::7"),
		},
		{
			name:    "markers are case-insensitive and may be indented",
			in:      "  domainlist:  \nA.example\n\tIPLIST:\n192.0.2.1\n iplist :\n192.0.2.2",
			domains: []string{"A.example"},
			ips:     addrs("192.0.2.1", "192.0.2.2"),
		},
		{
			name:    "values on the marker line",
			in:      "DomainList: a.example, b.example\nIPList:2001:db8::1",
			domains: []string{"a.example", "b.example"},
			ips:     addrs("2001:db8::1"),
		},
		{
			name:    "trailing comments, spaces and empty items",
			in:      "DomainList: # hosts\n , a.example ,, b.example,  # two\n",
			domains: []string{"a.example", "b.example"},
			ips:     addrs(),
		},
		{
			name:    "CRLF line endings and a byte order mark",
			in:      "\uFEFFDomainList:\r\na.example\r\nIPList:\r\n192.0.2.1\r\n",
			domains: []string{"a.example"},
			ips:     addrs("192.0.2.1"),
		},
		{
			name:    "sections may repeat; file order is kept",
			in:      "IPList:\n192.0.2.1\nDomainList:\nz.example\nIPList:\n192.0.2.2\nDomainList:\na.example",
			domains: []string{"z.example", "a.example"},
			ips:     addrs("192.0.2.1", "192.0.2.2"),
		},
		{
			name:    "longest valid label and hostname (63 and 253)",
			in:      "DomainList:\n" + strings.Repeat("a", 63) + ".example\n" + strings.Repeat("abcdefghi.", 24) + "example123456",
			domains: []string{strings.Repeat("a", 63) + ".example", strings.Repeat("abcdefghi.", 24) + "example123456"},
			ips:     addrs(),
		},
		{
			name:    "single-label hosts, digits and inner hyphens",
			in:      "DomainList:\nlocalhost\n3com.example\nxn--bcher-kva.example\na-b--c.example",
			domains: []string{"localhost", "3com.example", "xn--bcher-kva.example", "a-b--c.example"},
			ips:     addrs(),
		},
		{
			name:     "duplicate domains differ only in case",
			in:       "DomainList:\nApi.Example.com\nb.example, api.example.COM",
			domains:  []string{"Api.Example.com", "b.example"},
			ips:      addrs(),
			warnings: []Problem{{Line: 3, Col: 12, Msg: `duplicate "api.example.COM" dropped`}},
		},
		{
			name:    "duplicate IPs in different spellings",
			in:      "IPList:\n2001:db8::7\n2001:DB8:0:0:0:0:0:7, 192.0.2.1\n192.0.2.1",
			domains: []string{},
			ips:     addrs("2001:db8::7", "192.0.2.1"),
			warnings: []Problem{
				{Line: 3, Col: 1, Msg: `duplicate "2001:DB8:0:0:0:0:0:7" dropped`},
				{Line: 4, Col: 1, Msg: `duplicate "192.0.2.1" dropped`},
			},
		},
		{
			name:    "IPv4-mapped IPv6 is a distinct address",
			in:      "IPList:\n192.0.2.1\n::ffff:192.0.2.1",
			domains: []string{},
			ips:     addrs("192.0.2.1", "::ffff:192.0.2.1"),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := Parse("endpoints.txt", strings.NewReader(tt.in))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if !reflect.DeepEqual(l.Domains, tt.domains) {
				t.Errorf("Domains = %q, want %q", l.Domains, tt.domains)
			}
			if !reflect.DeepEqual(l.IPs, tt.ips) {
				t.Errorf("IPs = %v, want %v", l.IPs, tt.ips)
			}
			if !reflect.DeepEqual(l.Warnings, tt.warnings) {
				t.Errorf("Warnings = %+v, want %+v", l.Warnings, tt.warnings)
			}
		})
	}
}

func TestParseFile(t *testing.T) {
	l, err := ParseFile(filepath.Join("testdata", "spec.txt"))
	if err != nil {
		t.Fatalf("ParseFile: %v", err)
	}
	if len(l.Domains) != 4 || len(l.IPs) != 2 {
		t.Errorf("got %d domains, %d IPs; want 4, 2", len(l.Domains), len(l.IPs))
	}

	missing := filepath.Join(t.TempDir(), "nope.txt")
	_, err = ParseFile(missing)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("ParseFile(missing) = %v, want fs.ErrNotExist", err)
	}
	if !strings.Contains(err.Error(), missing) {
		t.Errorf("error %q does not name %s", err, missing)
	}
}

func TestParseReadError(t *testing.T) {
	boom := errors.New("boom")
	_, err := Parse("x.txt", iotest.ErrReader(boom))
	if !errors.Is(err, boom) || err.Error() != "read x.txt: boom" {
		t.Errorf("Parse(failing reader) = %v, want read x.txt: boom", err)
	}
}

func TestParseErrorFormat(t *testing.T) {
	e := &ParseError{File: "f.txt", Problems: []Problem{{Line: 1, Col: 2, Msg: "a"}, {Line: 3, Msg: "b"}}}
	if got, want := e.Error(), "f.txt:1:2: a\nf.txt:3: b"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	_, err := Parse("", strings.NewReader("x"))
	if got := err.Error(); !strings.HasPrefix(got, "<input>:1:1: ") {
		t.Errorf("unnamed input error = %q, want prefix <input>:1:1:", got)
	}
}
