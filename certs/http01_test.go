package certs

import (
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgectl/edgectl/fleet"
	"github.com/edgectl/edgectl/remote"
	"github.com/edgectl/edgectl/remote/remotetest"
)

// TestHTTP01PresentFailureCleansUp: when a host address does not serve the
// token, Present fails naming the host and address, and the token is gone
// from every host (lego calls CleanUp only after a successful Present).
func TestHTTP01PresentFailureCleansUp(t *testing.T) {
	// A port where nothing listens: bind, note, close.
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()

	roots := []string{t.TempDir(), t.TempDir()}
	conns := []*conn{
		{host: fleet.Host{Name: "a", IPv4: "127.0.0.1"}, rh: remotetest.Rooted(remote.Local{}, roots[0], "a")},
		{host: fleet.Host{Name: "b"}, rh: remotetest.Rooted(remote.Local{}, roots[1], "b")},
	}
	p := &fleetHTTP01{
		conns: conns, dir: "/var/lib/edgectl/acme", port: port, timeout: 300 * time.Millisecond,
		targets: map[string][]target{"api.example.com": {{Host: "a", Addr: netip.MustParseAddr("127.0.0.1")}}},
		logf:    func(string, ...any) {},
	}
	err = p.Present("api.example.com", "tok_-1", "tok_-1.thumb")
	if err == nil || !strings.Contains(err.Error(), "a 127.0.0.1 (ipv4): refused") {
		t.Fatalf("Present = %v, want a refusal naming host a and 127.0.0.1", err)
	}
	for _, r := range roots {
		if _, err := os.Stat(filepath.Join(r, "var/lib/edgectl/acme/tok_-1")); !os.IsNotExist(err) {
			t.Errorf("token left under %s after a failed Present: %v", r, err)
		}
	}
}

// TestHTTP01RefusesTokensThatAreNotBase64url: a token from the CA is
// checked before any path is built from it, so nothing is written.
func TestHTTP01RefusesTokensThatAreNotBase64url(t *testing.T) {
	p := &fleetHTTP01{dir: "/var/lib/edgectl/acme", logf: func(string, ...any) {}}
	for _, tok := range []string{"../../etc/cron.d/x", "a/b", "tok.en", "tok en", "", "tok\x00", strings.Repeat("a", 300)} {
		if err := p.Present("api.example.com", tok, "x"); err == nil || !strings.Contains(err.Error(), "token") {
			t.Errorf("Present(%q) = %v, want a refusal", tok, err)
		}
		if err := p.CleanUp("api.example.com", tok, "x"); err == nil {
			t.Errorf("CleanUp(%q) accepted it", tok)
		}
	}
	if err := checkToken64("LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0"); err != nil {
		t.Errorf("a real token refused: %v", err)
	}
}
