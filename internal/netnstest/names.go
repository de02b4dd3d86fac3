package netnstest

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// namePrefix starts every name this package creates.
const namePrefix = "ect"

// maxNameLen is the longest name we create: IFNAMSIZ-1, so a name can also be used
// for an interface.
const maxNameLen = 15

// Kinds of names, the letter after the process tag.
const (
	kindNS    = 'n' // a namespace returned by New
	kindHub   = 'h' // the namespace holding the bridge
	kindProbe = 'p' // the namespace Require creates to see whether it can
)

// nameRE matches names made by procPrefix and newName: pid in base 36, "-", the
// two-character process tag, a kind letter and a base-36 counter.
var nameRE = regexp.MustCompile(`^` + namePrefix + `([0-9a-z]{1,5})-([0-9a-z]{2})[a-z][0-9a-z]{1,3}$`)

var (
	// procTag tells this process apart from an earlier, dead one that had the same
	// pid and left namespaces behind.
	procTag = formatTag(rand.IntN(36 * 36))
	// nameCounter makes every name of this process unique; names are never reused.
	nameCounter atomic.Uint64
)

func formatTag(n int) string {
	s := strconv.FormatInt(int64(n), 36)
	if len(s) < 2 {
		s = "0" + s
	}
	return s
}

// procPrefix is the part of a name shared by everything a process creates.
func procPrefix(pid int, tag string) string {
	return namePrefix + strconv.FormatInt(int64(pid), 36) + "-" + tag
}

// newName returns a fresh name of the given kind for this process.
func newName(kind byte) (string, error) {
	n := nameCounter.Add(1)
	name := procPrefix(os.Getpid(), procTag) + string(kind) + strconv.FormatUint(n, 36)
	if len(name) > maxNameLen {
		return "", fmt.Errorf("name %s is longer than %d bytes (%d names made by this process)", name, maxNameLen, n)
	}
	return name, nil
}

// parseName returns the owning pid and process tag of a name made by this package.
func parseName(name string) (pid int, tag string, ok bool) {
	m := nameRE.FindStringSubmatch(name)
	if m == nil {
		return 0, "", false
	}
	p, err := strconv.ParseInt(m[1], 36, 64)
	if err != nil || p <= 0 {
		return 0, "", false
	}
	return int(p), m[2], true
}

// isStale reports whether a name belongs to a process that no longer exists: either
// its pid is dead, or the pid is ours but the tag is not (an earlier process had
// our pid).
func isStale(name string) bool {
	pid, tag, ok := parseName(name)
	if !ok {
		return false
	}
	if pid == os.Getpid() {
		return tag != procTag
	}
	return !pidAlive(pid)
}

// CleanupLeftovers deletes the namespaces that an earlier, killed test process left
// behind: those whose name carries this package's prefix and whose owning process
// (the pid encoded in the name) is gone. Processes still running inside them are
// killed first. Names of live processes, including this one, are left alone.
//
// Bridges and veths live inside namespaces made by this package (see the package
// documentation), so deleting the namespaces removes them too; nothing is created
// in the host's namespace. [New] calls CleanupLeftovers once per process.
//
// Pids are compared in the caller's pid namespace: processes that share /run/netns
// but not a pid namespace can mistake each other's namespaces for leftovers.
func CleanupLeftovers() error {
	names, err := listNamespaces()
	if err != nil {
		return err
	}
	var errs []error
	for _, name := range names {
		if !isStale(name) {
			continue
		}
		if err := deleteNamespace(name); err != nil {
			errs = append(errs, fmt.Errorf("delete leftover: %w", err))
		}
	}
	return errors.Join(errs...)
}

// listNamespaces returns the names from ip netns list.
func listNamespaces() ([]string, error) {
	out, err := runIP("netns", "list")
	if err != nil {
		return nil, err
	}
	var names []string
	for line := range strings.Lines(out) {
		// "name" or "name (id: 3)"
		if f := strings.Fields(line); len(f) > 0 {
			names = append(names, f[0])
		}
	}
	return names, nil
}

// deleteNamespace kills every process in the namespace and deletes it. A namespace
// that is already gone (deleted by a concurrent CleanupLeftovers) is not an error.
func deleteNamespace(name string) error {
	errKill := killAll(name)
	_, errDel := runIP("netns", "delete", name)
	if errDel != nil {
		if _, err := os.Stat(netnsPath(name)); errors.Is(err, os.ErrNotExist) {
			return nil // deleted by someone else, with its processes
		}
	}
	return errors.Join(errKill, errDel)
}

// killAll sends SIGKILL to every process whose network namespace is name, except
// this process, until none is left: a process may fork before the signal lands.
func killAll(name string) error {
	for round := 0; ; round++ {
		pids, err := nsPids(name)
		if err != nil || len(pids) == 0 {
			return err
		}
		if round == 50 {
			return fmt.Errorf("processes %v in %s survive SIGKILL", pids, name)
		}
		for _, pid := range pids {
			if p, err := os.FindProcess(pid); err == nil {
				_ = p.Kill() // fails only if the process is gone already
				_ = p.Release()
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// nsPids lists the processes in the namespace, except this one (a thread of ours
// may be in it for Do).
func nsPids(name string) ([]int, error) {
	out, err := runIP("netns", "pids", name)
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, f := range strings.Fields(out) {
		if pid, err := strconv.Atoi(f); err == nil && pid != os.Getpid() {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// netnsPath is where ip netns add mounts a namespace.
func netnsPath(name string) string {
	return "/run/netns/" + name
}

// runIP runs ip with args and returns its standard output. The error names the
// command and carries its standard error.
func runIP(args ...string) (string, error) {
	cmd := exec.Command("ip", args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			return "", fmt.Errorf("ip %s: %w", strings.Join(args, " "), err)
		}
		return "", fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, msg)
	}
	return stdout.String(), nil
}
