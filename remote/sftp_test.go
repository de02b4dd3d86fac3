package remote_test

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/edgectl/edgectl/internal/sshtest"
	"github.com/edgectl/edgectl/remote"
)

// leftovers lists files in dir other than the named ones.
func leftovers(t *testing.T, dir string, keep ...string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
outer:
	for _, e := range entries {
		for _, k := range keep {
			if e.Name() == k {
				continue outer
			}
		}
		out = append(out, e.Name())
	}
	return out
}

// The sshd of these tests shares this machine's file system, so what the
// SSH host wrote is checked with os directly.
func TestFiles(t *testing.T) {
	t.Parallel()
	srv := sshtest.Start(t, sshtest.Options{})
	h := dial(t, srv.Config("edge-1"))
	ctx := t.Context()
	dir := t.TempDir()

	t.Run("write", func(t *testing.T) {
		tests := []struct {
			name string
			file string
			old  string // existing content, "" for none
			data string
			perm fs.FileMode
		}{
			{"new private key", "privkey.pem", "", "-----BEGIN PRIVATE KEY-----\n", 0o600},
			{"replace world readable", "agent.yaml", "old: 1\n", "new: 2\n", 0o644},
			{"replace and tighten", "fullchain.pem", "old", "new", 0o600},
			{"empty file", "empty", "x", "", 0o640},
			{"name with spaces and quotes", "it's a file", "", "ok", 0o600},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				p := filepath.Join(dir, tt.file)
				if tt.old != "" {
					if err := os.WriteFile(p, []byte(tt.old), 0o666); err != nil {
						t.Fatal(err)
					}
				}
				if err := h.WriteFile(ctx, p, []byte(tt.data), tt.perm); err != nil {
					t.Fatalf("WriteFile: %v", err)
				}
				if got, err := os.ReadFile(p); err != nil || string(got) != tt.data {
					t.Errorf("content %q, %v; want %q", got, err, tt.data)
				}
				checkMode(t, p, tt.perm)
				got, err := h.ReadFile(ctx, p)
				if err != nil || string(got) != tt.data {
					t.Errorf("ReadFile: %q, %v; want %q", got, err, tt.data)
				}
			})
		}
		if left := leftovers(t, dir, "privkey.pem", "agent.yaml", "fullchain.pem", "empty", "it's a file"); left != nil {
			t.Errorf("temporary files left behind: %v", left)
		}
	})

	t.Run("failed write keeps the old file", func(t *testing.T) {
		// A non-empty directory cannot be replaced by a file: the rename
		// fails after the data was written.
		target := filepath.Join(dir, "conf.d")
		os.Mkdir(target, 0o755)
		os.WriteFile(filepath.Join(target, "keep"), []byte("old"), 0o600)
		err := h.WriteFile(ctx, target, []byte("new"), 0o600)
		if err == nil || !strings.Contains(err.Error(), "edge-1: write "+target) {
			t.Fatalf("WriteFile over a directory: %v, want an error naming host and path", err)
		}
		if b, _ := os.ReadFile(filepath.Join(target, "keep")); string(b) != "old" {
			t.Errorf("old content changed to %q", b)
		}
		if left := leftovers(t, dir, "privkey.pem", "agent.yaml", "fullchain.pem", "empty", "it's a file", "conf.d"); left != nil {
			t.Errorf("temporary files left behind: %v", left)
		}
	})

	t.Run("missing directory", func(t *testing.T) {
		p := filepath.Join(dir, "no-such-dir", "f")
		if err := h.WriteFile(ctx, p, []byte("x"), 0o600); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("WriteFile into a missing directory: %v, want fs.ErrNotExist", err)
		}
	})

	t.Run("read missing", func(t *testing.T) {
		p := filepath.Join(dir, "missing")
		_, err := h.ReadFile(ctx, p)
		if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "edge-1: read "+p) {
			t.Errorf("ReadFile of a missing file: %v, want fs.ErrNotExist naming host and path", err)
		}
	})

	t.Run("remove", func(t *testing.T) {
		p := filepath.Join(dir, "gone")
		os.WriteFile(p, []byte("x"), 0o600)
		for i := range 2 { // the second time it is already missing
			if err := h.Remove(ctx, p); err != nil {
				t.Fatalf("Remove #%d: %v", i+1, err)
			}
		}
		if _, err := os.Stat(p); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s still there: %v", p, err)
		}
	})

	t.Run("concurrent", func(t *testing.T) {
		var wg sync.WaitGroup
		for i := range 16 {
			wg.Go(func() {
				p := filepath.Join(dir, fmt.Sprint("c", i%4))
				data := bytes.Repeat([]byte{byte('a' + i%4)}, 64<<10)
				if err := h.WriteFile(ctx, p, data, 0o600); err != nil {
					t.Error(err)
					return
				}
				got, err := h.ReadFile(ctx, p)
				if err != nil || !bytes.Equal(got, data) {
					t.Errorf("%s: read %d bytes, %v; want %d of %q", p, len(got), err, len(data), data[0])
				}
				if _, err := h.Run(ctx, "true", nil); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
	})
}

// A closed host fails cleanly.
func TestClosed(t *testing.T) {
	t.Parallel()
	srv := sshtest.Start(t, sshtest.Options{})
	h, err := remote.DialSSH(t.Context(), srv.Config("edge-1"))
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	h.Close()
	if _, err := h.Run(t.Context(), "true", nil); err == nil {
		t.Error("Run after Close worked")
	}
	if _, err := h.ReadFile(t.Context(), "/etc/hostname"); err == nil {
		t.Error("ReadFile after Close worked")
	}
}
