package endpoints

import (
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParse checks that Parse never panics, that a list it accepts holds only
// valid, unique values, and that it renders to valid JSON whose URLs parse
// back to the same hosts.
func FuzzParse(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join("testdata", "*.txt"))
	for _, s := range seeds {
		b, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	f.Add("DomainList: a.example, B.EXAMPLE\nIPList: ::ffff:192.0.2.1, 2001:db8::1 # c\n")
	opts := []Options{{}, {Protocol: "http", APIPath: "/", SocketPath: "/socket.io/", DefaultPort: 65535}}

	f.Fuzz(func(t *testing.T, in string) {
		l, err := Parse("fuzz.txt", strings.NewReader(in))
		if err != nil {
			if l != nil {
				t.Fatalf("Parse returned both a list and %v", err)
			}
			return
		}
		seen := map[string]bool{}
		for _, d := range l.Domains {
			if checkHostname(d) != nil || seen[strings.ToLower(d)] {
				t.Fatalf("accepted invalid or duplicate domain %q", d)
			}
			seen[strings.ToLower(d)] = true
		}
		for _, ip := range l.IPs {
			if seen[ip.String()] || ip.Zone() != "" {
				t.Fatalf("accepted zoned or duplicate IP %v", ip)
			}
			seen[ip.String()] = true
		}
		for _, o := range opts {
			b, err := Render(l, o).JSON()
			if err != nil {
				t.Fatal(err)
			}
			var d Document
			if err := json.Unmarshal(b, &d); err != nil {
				t.Fatalf("invalid JSON %q: %v", b, err)
			}
			n := len(l.Domains) + len(l.IPs)
			if len(d.APIEndpoints) != n || len(d.SocketIOEndpoints) != n {
				t.Fatalf("%d hosts rendered to %d and %d endpoints", n, len(d.APIEndpoints), len(d.SocketIOEndpoints))
			}
			for i, e := range append(d.APIEndpoints, d.SocketIOEndpoints...) {
				u, err := url.Parse(e.URL)
				if err != nil {
					t.Fatalf("URL %q does not parse: %v", e.URL, err)
				}
				want := hostAt(l, i%n)
				if !strings.EqualFold(u.Hostname(), want) || u.Scheme != o.withDefaults().Protocol {
					t.Fatalf("URL %q has host %q scheme %q, want %q %q", e.URL, u.Hostname(), u.Scheme, want, o.Protocol)
				}
				if e.Priority != i%n {
					t.Fatalf("URL %q has priority %d, want %d", e.URL, e.Priority, i%n)
				}
			}
		}
	})
}

// hostAt is the i-th host of l in render order.
func hostAt(l *List, i int) string {
	if i < len(l.Domains) {
		return l.Domains[i]
	}
	return l.IPs[i-len(l.Domains)].String()
}
