package remotetest

import (
	"context"
	"errors"
	"strings"
	"syscall"
	"testing"

	"github.com/edgectl/edgectl/remote"
)

func TestFakeShell(t *testing.T) {
	tests := []struct {
		name     string
		script   string
		stdin    string
		wantOut  string
		wantCode int
		check    func(t *testing.T, h *Fake)
	}{
		{name: "hard link shares the inode, rename replaces", script: "set -e\nln -f -- /etc/a /etc/a.prev\nmv -f -- /etc/.a.new /etc/a\nchown -- root:edgectl /etc/a.prev",
			check: func(t *testing.T, h *Fake) {
				if c, _ := h.Content("/etc/a"); c != "new" {
					t.Errorf("a = %q", c)
				}
				if n := h.File("/etc/a.prev"); n == nil || string(n.Data) != "old" || n.Owner != "root:edgectl" {
					t.Errorf("a.prev = %+v", n)
				}
			}},
		{name: "ln without -f refuses an existing target", script: "ln -- /etc/a /etc/.a.new", wantCode: 1},
		{name: "set -e stops at the first failure", script: "set -e\nmv -- /nope /etc/x\necho after", wantCode: 1},
		{name: "&& and || decide without ending the script", script: "set -e\nfalse && echo no\nfalse || echo yes\necho end", wantOut: "yes\nend\n"},
		{name: "sha256sum of a missing file fails but prints the others", script: "sha256sum -- /etc/a /missing 2>/dev/null; echo rc",
			wantOut: (&Inode{Data: []byte("old")}).Sum() + "  /etc/a\nrc\n"},
		{name: "cat > writes stdin", script: "cat > /etc/x", stdin: "hello", check: func(t *testing.T, h *Fake) {
			if c, _ := h.Content("/etc/x"); c != "hello" {
				t.Errorf("x = %q", c)
			}
		}},
		{name: "stat, quoted paths, comments", script: "# facts\nstat -c '%a %U:%G %n' -- '/etc/a'", wantOut: "640 root:edgectl /etc/a\n"},
		{name: "find -delete", script: "find /etc -maxdepth 1 -name '.*.edgectl.tmp-*' -delete", wantOut: "/etc/.b.edgectl.tmp-1\n",
			check: func(t *testing.T, h *Fake) {
				if h.File("/etc/.b.edgectl.tmp-1") != nil {
					t.Error("temp file left")
				}
			}},
		{name: "unknown program uses its handler", script: "systemctl is-active edgectl-agent", wantOut: "active\n"},
		{name: "pipes are refused", script: "cat /etc/a | wc", wantCode: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := NewFake("vps1")
			h.SetFile("/etc/a", []byte("old"), 0o640, "root:edgectl")
			h.SetFile("/etc/.a.new", []byte("new"), 0o640, "root:edgectl")
			h.SetFile("/etc/.b.edgectl.tmp-1", []byte("x"), 0o600, "root:root")
			h.Handlers["systemctl"] = func(_ *Fake, args []string, _ []byte) (string, string, int) {
				return "active\n", "", 0
			}
			res, err := h.Run(context.Background(), tt.script, []byte(tt.stdin))
			if got := remote.ExitCode(err); err != nil && got != tt.wantCode {
				t.Fatalf("exit %d (%v), want %d; stderr %s", got, err, tt.wantCode, res.Stderr)
			}
			if err == nil && tt.wantCode != 0 {
				t.Fatalf("exit 0, want %d", tt.wantCode)
			}
			if tt.wantOut != "" && string(res.Stdout) != tt.wantOut {
				t.Errorf("stdout %q, want %q", res.Stdout, tt.wantOut)
			}
			if tt.check != nil {
				tt.check(t, h)
			}
		})
	}
}

func TestFakeFailures(t *testing.T) {
	ctx := context.Background()
	h := NewFake("vps1")
	h.SetFile("/usr/local/bin/edgectl", make([]byte, 10), 0o755, "root:root")
	h.SetFree("/usr/local/bin", 15)
	if err := h.WriteFile(ctx, "/usr/local/bin/edgectl", make([]byte, 20), 0o755); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("write beyond the free space: %v", err)
	}
	if err := h.WriteFile(ctx, "/usr/local/bin/edgectl", make([]byte, 12), 0o755); err != nil {
		t.Fatalf("write within the free space: %v", err)
	}
	h.Fail = func(op string, args []string) error {
		if op == "mv" {
			return Broken("vps1")
		}
		return nil
	}
	if _, err := h.Run(ctx, "mv -- /a /b", nil); !remote.Broken(err) {
		t.Fatalf("injected broken connection: %v", err)
	}
	if log := strings.Join(h.Log(), "\n"); !strings.Contains(log, "write /usr/local/bin/edgectl") || !strings.Contains(log, "mv -- /a /b") {
		t.Errorf("log:\n%s", log)
	}
}
