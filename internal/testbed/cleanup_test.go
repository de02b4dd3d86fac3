package testbed

import (
	"os"
	"os/exec"
	"testing"
)

// TestCleanupRemovesLeftovers makes the namespace and bridge a killed run
// would leave, next to a live run's, and checks that Cleanup removes only
// the dead run's.
func TestCleanupRemovesLeftovers(t *testing.T) {
	if err := Check(); err != nil {
		t.Skipf("testbed %v", err)
	}
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	stale, live := runPrefix(dead.Process.Pid), runPrefix(os.Getpid())
	for _, p := range []string{stale, live} {
		ns, br := netnsName(p, 0), bridgeName(p)
		if _, err := run("ip", "netns", "add", ns); err != nil {
			t.Fatal(err)
		}
		if _, err := run("ip", "link", "add", br, "type", "bridge"); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = deleteNetns(ns); _ = deleteLink(br) })
	}
	if err := Cleanup(); err != nil {
		t.Fatal(err)
	}
	exists := func(path string) bool { _, err := os.Stat(path); return err == nil }
	if exists("/run/netns/"+netnsName(stale, 0)) || exists("/sys/class/net/"+bridgeName(stale)) {
		t.Errorf("leftovers of dead owner %d not removed", dead.Process.Pid)
	}
	if !exists("/run/netns/"+netnsName(live, 0)) || !exists("/sys/class/net/"+bridgeName(live)) {
		t.Errorf("Cleanup removed this live process's namespace or bridge")
	}
}
