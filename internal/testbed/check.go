package testbed

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"testing"
	"time"
)

// Check reports why a testbed cannot run here: not Linux, not root, or a
// missing tool (named with its Debian package). nil means it can.
func Check() error {
	if runtime.GOOS != "linux" {
		return errors.New("needs Linux (network namespaces and systemd-nspawn)")
	}
	if os.Geteuid() != 0 {
		return errors.New("needs root (network namespaces, mounts, systemd-nspawn)")
	}
	tools := []struct{ bin, pkg string }{
		{"systemd-nspawn", "systemd-container"}, {"debootstrap", "debootstrap"},
		{"ip", "iproute2"}, {"ssh", "openssh-client"}, {"sysctl", "procps"},
	}
	for _, t := range tools {
		if _, err := exec.LookPath(t.bin); err != nil {
			return fmt.Errorf("needs %s in PATH: apt-get install %s", t.bin, t.pkg)
		}
	}
	return nil
}

// StartT is Start for tests: it skips the test with the reason when Check
// fails, fails it when Start does, logs the build and boot times, and closes
// the testbed when the test ends. The first run may spend a minute or two
// building the base tree.
func StartT(t testing.TB, opts Options) *Bed {
	t.Helper()
	if err := Check(); err != nil {
		t.Skipf("testbed %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	b, err := Start(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Error(err)
		}
	})
	if b.BaseBuild > 0 {
		t.Logf("testbed: built the base tree in %s", b.BaseBuild.Round(time.Second))
	}
	t.Logf("testbed: %d hosts ready in %s (run dir %s)", len(b.Hosts), b.BootTime.Round(100*time.Millisecond), b.Dir)
	return b
}
