package testbed

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// Cleanup removes what runs whose owner process is gone left behind: their
// systemd-nspawn processes and containers, overlay mounts, network
// namespaces, veths and bridges, and default run directories under $TMPDIR.
// Runs of live owners, including this process, are not touched. A run
// directory given with Options.Dir is not removed (only its mounts);
// testbedctl down --dir removes it.
func Cleanup() error {
	var errs []error
	// Containers first: killing everything in a namespace ends its nspawn.
	nss, err := os.ReadDir("/run/netns")
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, err)
	}
	var stale []string
	for _, e := range nss {
		if isStale(e.Name()) {
			stale = append(stale, e.Name())
			if err := killNetns(e.Name()); err != nil {
				errs = append(errs, err)
			}
		}
	}
	killStaleNspawns()
	mps, err := mountPoints()
	if err != nil {
		errs = append(errs, err)
	}
	for i := len(mps) - 1; i >= 0; i-- {
		if isStale(filepath.Base(mps[i])) && filepath.Base(filepath.Dir(mps[i])) == "mnt" {
			if err := unmountBelow(mps[i]); err != nil {
				errs = append(errs, err)
			}
		}
	}
	for _, ns := range stale {
		if err := deleteNetns(ns); err != nil {
			errs = append(errs, err)
		}
	}
	links, err := os.ReadDir("/sys/class/net")
	if err != nil {
		errs = append(errs, err)
	}
	for _, l := range links {
		if isStale(l.Name()) {
			if err := deleteLink(l.Name()); err != nil {
				errs = append(errs, err)
			}
		}
	}
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), "edgectl-testbed-"+namePrefix+"*-*"))
	for _, d := range dirs {
		prefix, _, _ := strings.Cut(strings.TrimPrefix(filepath.Base(d), "edgectl-testbed-"), "-")
		if isStale(bridgeName(prefix)) {
			if err := removeTree(d); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("testbed cleanup: %w", err)
	}
	return nil
}

// killStaleNspawns SIGKILLs systemd-nspawn processes whose network namespace
// belongs to a run whose owner is gone.
func killStaleNspawns() {
	procs, _ := os.ReadDir("/proc")
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile("/proc/" + p.Name() + "/cmdline")
		if err != nil || !strings.Contains(string(cmdline), "systemd-nspawn") {
			continue
		}
		for _, arg := range strings.Split(string(cmdline), "\x00") {
			ns, ok := strings.CutPrefix(arg, "--network-namespace-path=/run/netns/")
			if ok && isStale(ns) {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
}
