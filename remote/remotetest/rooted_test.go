package remotetest

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/edgectl/edgectl/remote"
)

func TestRootCommand(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"bare paths", "mkdir -p -- /etc/x /var/y", "mkdir -p -- /r/etc/x /r/var/y"},
		{"quoted path", "mkdir -p -- '/etc/a b'", "mkdir -p -- '/r/etc/a b'"},
		{"after =", "chown --reference=/etc/x -- /etc/x/k", "chown --reference=/r/etc/x -- /r/etc/x/k"},
		{"redirect left alone", "true 2>/dev/null; mv -f -- /a /b", "true 2>/dev/null; mv -f -- /r/a /r/b"},
		{"relative left alone", "ls etc/x", "ls etc/x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := rootCommand(tt.in, "/r"); got != tt.want {
				t.Errorf("rootCommand(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestRootedFiles(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	h := Rooted(remote.Local{}, root, "vps1")
	if h.Name() != "vps1" {
		t.Errorf("Name = %q", h.Name())
	}
	if _, err := h.Run(ctx, "mkdir -p -- "+remote.ShellQuote("/etc/edgectl/certs/a b"), nil); err != nil {
		t.Fatal(err)
	}
	p := "/etc/edgectl/certs/a b/privkey.pem"
	if err := h.WriteFile(ctx, p, []byte("k"), 0o600); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(root, p))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("file under the root: %v %v", err, fi)
	}
	if b, err := h.ReadFile(ctx, p); err != nil || string(b) != "k" {
		t.Fatalf("ReadFile = %q, %v", b, err)
	}
	if _, err := h.Run(ctx, "mv -f -- "+remote.ShellQuote(p)+" /etc/edgectl/k2", nil); err != nil {
		t.Fatal(err)
	}
	if err := h.Remove(ctx, "/etc/edgectl/k2"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "etc/edgectl/k2")); !os.IsNotExist(err) {
		t.Errorf("Remove left the file: %v", err)
	}
}
