package agent

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/edgectl/edgectl/proxy"
)

func TestACMEResponder(t *testing.T) {
	dir := t.TempDir()
	const token = "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0"
	const keyAuth = token + ".9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI"
	writeTestFile(t, filepath.Join(dir, token), keyAuth)
	writeTestFile(t, filepath.Join(dir, "tok.en"), "dotted")

	outside := t.TempDir()
	secret := filepath.Join(outside, "secret")
	writeTestFile(t, secret, "secret")
	if err := os.Symlink(secret, filepath.Join(dir, "escape")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../"+filepath.Base(outside)+"/secret", filepath.Join(dir, "relescape")); err != nil {
		t.Fatal(err)
	}
	// Even a link to a token inside dir is refused: only regular files.
	if err := os.Symlink(token, filepath.Join(dir, "inside")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "subdir"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeTestFile(t, filepath.Join(dir, "subdir", "x"), "nested")
	// A FIFO must not hang the request.
	if err := syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	writeTestFile(t, filepath.Join(dir, "huge"), string(make([]byte, maxACMETokenFile+1)))

	a := newACMEResponder(dir)
	const prefix = "/.well-known/acme-challenge/"
	tests := []struct {
		name   string
		method string
		path   string
		status int // 0: not handled (nil)
		body   string
	}{
		{name: "valid token", method: "GET", path: prefix + token, status: 200, body: keyAuth},
		{name: "valid token HEAD", method: "HEAD", path: prefix + token, status: 200, body: keyAuth},
		{name: "missing token", method: "GET", path: prefix + "nosuchtoken", status: 404},
		{name: "dot dot traversal", method: "GET", path: prefix + "../etc/passwd", status: 404},
		{name: "slash", method: "GET", path: prefix + "a/b", status: 404},
		{name: "nested file", method: "GET", path: prefix + "subdir/x", status: 404},
		{name: "encoded slash", method: "GET", path: prefix + "a%2Fb", status: 404},
		{name: "encoded traversal", method: "GET", path: prefix + "..%2F..%2Fetc%2Fpasswd", status: 404},
		{name: "empty token", method: "GET", path: prefix, status: 404},
		{name: "dot in token", method: "GET", path: prefix + "tok.en", status: 404},
		{name: "dot dot", method: "GET", path: prefix + "..", status: 404},
		{name: "trailing slash", method: "GET", path: prefix + token + "/", status: 404},
		{name: "symlink outside", method: "GET", path: prefix + "escape", status: 404},
		{name: "relative symlink outside", method: "GET", path: prefix + "relescape", status: 404},
		{name: "symlink inside", method: "GET", path: prefix + "inside", status: 404},
		{name: "directory", method: "GET", path: prefix + "subdir", status: 404},
		{name: "fifo", method: "GET", path: prefix + "fifo", status: 404},
		{name: "oversized file", method: "GET", path: prefix + "huge", status: 404},
		{name: "POST is routed", method: "POST", path: prefix + token},
		{name: "other path", method: "GET", path: "/api/v1/users"},
		{name: "prefix without slash", method: "GET", path: "/.well-known/acme-challenge"},
		{name: "other well-known", method: "GET", path: "/.well-known/security.txt"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := a.serve(&proxy.LocalRequest{Method: []byte(tt.method), Path: []byte(tt.path)})
			if tt.status == 0 {
				if resp != nil {
					t.Fatalf("serve(%s %s) = %d, want nil (routed)", tt.method, tt.path, resp.Status)
				}
				return
			}
			if resp == nil {
				t.Fatalf("serve(%s %s) = nil, want %d", tt.method, tt.path, tt.status)
			}
			if resp.Status != tt.status {
				t.Fatalf("serve(%s %s) status = %d (%q), want %d", tt.method, tt.path, resp.Status, resp.Body, tt.status)
			}
			if tt.status == 200 {
				if string(resp.Body) != tt.body {
					t.Errorf("body = %q, want %q", resp.Body, tt.body)
				}
				if ct := headerValue(resp.Header, "Content-Type"); ct != "text/plain" {
					t.Errorf("Content-Type = %q, want text/plain", ct)
				}
			}
			if tt.status == 404 && strings.Contains(string(resp.Body), "secret") {
				t.Errorf("404 body %q leaks the file outside the directory", resp.Body)
			}
		})
	}
}

// A token written after the responder started is served at once, a
// rewritten one serves its new content and a removed one stops.
func TestACMEResponderReadsEachRequest(t *testing.T) {
	dir := t.TempDir()
	a := newACMEResponder(dir)
	req := &proxy.LocalRequest{Method: []byte("GET"), Path: []byte("/.well-known/acme-challenge/tok")}
	name := filepath.Join(dir, "tok")
	steps := []struct {
		name   string
		change func()
		status int
		body   string
	}{
		{name: "before upload", change: func() {}, status: 404},
		{name: "uploaded", change: func() { writeTestFile(t, name, "tok.one") }, status: 200, body: "tok.one"},
		{name: "rewritten", change: func() { writeTestFile(t, name, "tok.two") }, status: 200, body: "tok.two"},
		{name: "removed", change: func() { _ = os.Remove(name) }, status: 404},
	}
	for _, st := range steps {
		st.change()
		resp := a.serve(req)
		if resp == nil || resp.Status != st.status || (st.status == 200 && string(resp.Body) != st.body) {
			t.Fatalf("%s: serve = %+v, want %d %q", st.name, resp, st.status, st.body)
		}
	}
}

func TestACMEIsChallenge(t *testing.T) {
	a := newACMEResponder(t.TempDir())
	tests := []struct {
		name string
		path string
		want bool
	}{
		{name: "token", path: "/.well-known/acme-challenge/abc", want: true},
		{name: "invalid token still claimed", path: "/.well-known/acme-challenge/../x", want: true},
		{name: "empty token", path: "/.well-known/acme-challenge/", want: true},
		{name: "no trailing slash", path: "/.well-known/acme-challenge", want: false},
		{name: "root", path: "/", want: false},
		{name: "other well-known", path: "/.well-known/openid-configuration", want: false},
		{name: "case differs", path: "/.WELL-KNOWN/acme-challenge/abc", want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := a.isChallenge([]byte(tt.path)); got != tt.want {
				t.Errorf("isChallenge(%q) = %v, want %v", tt.path, got, tt.want)
			}
		})
	}
	if newACMEResponder("").isChallenge([]byte("/.well-known/acme-challenge/abc")) {
		t.Error("a responder without a directory claims challenges")
	}
}

// Over a real connection, HEAD gets the headers with the token's length and
// no body.
func TestACMEOverHTTP(t *testing.T) {
	dir := t.TempDir()
	writeTestFile(t, filepath.Join(dir, "tok"), "tok.thumb")
	a := newACMEResponder(dir)
	base := serveLocalForTest(t, a.serve)
	tests := []struct {
		name   string
		method string
		path   string
		status int
		body   string // exact, or a substring when length < 0
		length int64
	}{
		{name: "GET", method: "GET", path: "/.well-known/acme-challenge/tok", status: 200, body: "tok.thumb", length: 9},
		{name: "HEAD", method: "HEAD", path: "/.well-known/acme-challenge/tok", status: 200, body: "", length: 9},
		{name: "traversal", method: "GET", path: "/.well-known/acme-challenge/..%2F..%2Fetc%2Fpasswd", status: 404, body: "no such ACME challenge token", length: -1},
		{name: "routed", method: "GET", path: "/elsewhere", status: 404, body: "no route", length: -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := doTestRequest(t, tt.method, base+tt.path, nil)
			if resp.StatusCode != tt.status {
				t.Fatalf("status = %d, want %d (%s)", resp.StatusCode, tt.status, body)
			}
			if tt.length < 0 {
				if !strings.Contains(body, tt.body) {
					t.Errorf("body = %q, want it to contain %q", body, tt.body)
				}
				return
			}
			if body != tt.body {
				t.Errorf("body = %q, want %q", body, tt.body)
			}
			if resp.ContentLength != tt.length {
				t.Errorf("Content-Length = %d, want %d", resp.ContentLength, tt.length)
			}
		})
	}
}

func writeTestFile(t testing.TB, name, content string) {
	t.Helper()
	if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// headerValue returns the first value of name in a LocalResponse header.
func headerValue(hdr []string, name string) string {
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i] == name {
			return hdr[i+1]
		}
	}
	return ""
}
