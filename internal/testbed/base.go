package testbed

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Suite is the Debian release the base tree is built from.
const Suite = "bookworm"

// Packages are installed into the base tree on top of debootstrap's minbase.
var Packages = []string{"systemd", "systemd-sysv", "dbus", "openssh-server", "iproute2",
	"ca-certificates", "curl", "nftables", "procps"}

// recipe is bumped whenever customize changes, so older trees are not reused.
const recipe = "2"

// DefaultCache is where base trees are kept when $EDGECTL_TESTBED_CACHE is unset.
const DefaultCache = "/var/cache/edgectl-testbed"

// maskedUnits would slow the boot, print on the console, or touch the network
// that is configured from outside before boot.
var maskedUnits = []string{
	"console-getty.service", "container-getty@.service", "getty@.service", "serial-getty@.service",
	"systemd-networkd.service", "systemd-networkd.socket", "systemd-networkd-wait-online.service",
	"systemd-network-generator.service", "systemd-resolved.service", "systemd-timesyncd.service",
	"apt-daily.timer", "apt-daily-upgrade.timer", "dpkg-db-backup.timer", "e2scrub_all.timer",
	"fstrim.timer", "man-db.timer",
}

// Base is a ready base tree.
type Base struct {
	// Path is the root of the tree; hosts boot from overlays on top of it.
	Path string
	// Built is how long building it took, 0 when it came from the cache.
	Built time.Duration
}

// CacheDir returns $EDGECTL_TESTBED_CACHE, or DefaultCache.
func CacheDir() string {
	if d := os.Getenv("EDGECTL_TESTBED_CACHE"); d != "" {
		return d
	}
	return DefaultCache
}

// baseKey identifies a tree by what went into it.
func baseKey() string {
	h := sha256.Sum256([]byte(Suite + "\n" + strings.Join(Packages, ",") + "\nrecipe " + recipe))
	return hex.EncodeToString(h[:6])
}

// EnsureBase returns the base tree in cache, building it first when it is
// not there. The build goes to a temporary directory that is renamed into
// place only when complete, under an exclusive lock on a file next to it,
// so a killed build never leaves a tree that looks valid and two callers
// never build at once (the second waits and then uses the first one's tree).
func EnsureBase(ctx context.Context, cache string) (Base, error) {
	key := baseKey()
	final := filepath.Join(cache, "base-"+Suite+"-"+key)
	if ok, err := isTree(final); ok || err != nil {
		return Base{Path: final}, err
	}
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return Base{}, fmt.Errorf("base tree: %w; set EDGECTL_TESTBED_CACHE to a writable directory", err)
	}
	unlock, err := lockFile(ctx, final+".lock")
	if err != nil {
		return Base{}, err
	}
	defer unlock()
	if ok, err := isTree(final); ok || err != nil { // built while we waited
		return Base{Path: final}, err
	}
	// We hold the lock: any build directory for this key is a killed build's.
	olds, _ := filepath.Glob(filepath.Join(cache, ".build-"+key+"-*"))
	for _, old := range olds {
		if err := removeTree(old); err != nil {
			return Base{}, fmt.Errorf("remove a killed build: %w", err)
		}
	}
	start := time.Now()
	tmp := filepath.Join(cache, ".build-"+key+"-"+strconv.Itoa(os.Getpid()))
	if err := debootstrap(ctx, tmp, filepath.Join(cache, "debs")); err != nil {
		_ = removeTree(tmp)
		return Base{}, err
	}
	if err := customize(tmp); err != nil {
		_ = removeTree(tmp)
		return Base{}, fmt.Errorf("customize base tree %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, final); err != nil {
		_ = removeTree(tmp)
		return Base{}, fmt.Errorf("base tree: %w", err)
	}
	return Base{Path: final, Built: time.Since(start)}, nil
}

func isTree(dir string) (bool, error) {
	_, err := os.Stat(filepath.Join(dir, "usr/lib/os-release"))
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

// lockFile takes an exclusive flock on path, waiting until ctx is done.
func lockFile(ctx context.Context, path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock: %w", err)
	}
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return func() { _ = unix.Flock(int(f.Fd()), unix.LOCK_UN); _ = f.Close() }, nil
		}
		if err != unix.EWOULDBLOCK {
			_ = f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		select {
		case <-ctx.Done():
			_ = f.Close()
			return nil, fmt.Errorf("wait for lock %s (another process is building or allocating): %w", path, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func debootstrap(ctx context.Context, dir, debs string) error {
	mirror := Mirror()
	if err := os.MkdirAll(debs, 0o755); err != nil {
		return fmt.Errorf("debootstrap: %w", err)
	}
	cmd := exec.CommandContext(ctx, "debootstrap", "--variant=minbase", "--cache-dir="+debs,
		"--include="+strings.Join(Packages, ","), Suite, dir, mirror)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("debootstrap %s from %s: %w; last output:\n%s", Suite, mirror, err, tail(out, 15))
	}
	return nil
}

// Mirror returns $EDGECTL_TESTBED_MIRROR, else the first Debian mirror apt
// uses here, else deb.debian.org.
func Mirror() string {
	if m := os.Getenv("EDGECTL_TESTBED_MIRROR"); m != "" {
		return m
	}
	files, _ := filepath.Glob("/etc/apt/sources.list.d/*.sources")
	files = append([]string{"/etc/apt/sources.list"}, files...)
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			for _, fld := range fields {
				if (strings.HasPrefix(fld, "http://") || strings.HasPrefix(fld, "https://")) &&
					strings.HasSuffix(strings.TrimSuffix(fld, "/"), "/debian") {
					_ = f.Close()
					return fld
				}
			}
		}
		_ = f.Close()
	}
	return "http://deb.debian.org/debian"
}

// customize prepares the debootstrapped tree for booting under nspawn.
func customize(root string) error {
	p := func(s string) string { return filepath.Join(root, s) }
	for _, u := range maskedUnits {
		link := p("etc/systemd/system/" + u)
		_ = os.Remove(link)
		if err := os.Symlink("/dev/null", link); err != nil {
			return err
		}
	}
	files := []struct {
		path string
		perm os.FileMode
		data string
	}{
		// Mount points for the per-run binds; StrictModes wants 0700/0600.
		{"root/.ssh/authorized_keys", 0o600, ""},
		{"etc/ssh/sshd_config.d/edgectl-testbed.conf", 0o644, ""},
		// Empty: systemd takes the id nspawn passes (--uuid), one per host.
		{"etc/machine-id", 0o444, ""},
		// Keep the name nspawn sets (--hostname) instead of the builder's.
		{"etc/hosts", 0o644, "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"},
		{"etc/systemd/journald.conf.d/testbed.conf", 0o644, "[Journal]\nStorage=volatile\nRuntimeMaxUse=16M\n"},
	}
	for _, f := range files {
		if err := os.MkdirAll(filepath.Dir(p(f.path)), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p(f.path), []byte(f.data), f.perm); err != nil {
			return err
		}
		if err := os.Chmod(p(f.path), f.perm); err != nil {
			return err
		}
	}
	if err := os.Chmod(p("root/.ssh"), 0o700); err != nil {
		return err
	}
	if err := os.Remove(p("etc/hostname")); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// removeTree deletes dir after unmounting anything still mounted below it (a
// killed debootstrap leaves /proc and /sys mounted in its target). It refuses
// to delete while a mount remains, rather than descend into it.
func removeTree(dir string) error {
	if err := unmountBelow(dir); err != nil {
		return err
	}
	return os.RemoveAll(dir)
}

// unmountBelow detaches every mount at or below dir, deepest first.
func unmountBelow(dir string) error {
	mounts, err := mountPoints()
	if err != nil {
		return err
	}
	var errs []error
	for i := len(mounts) - 1; i >= 0; i-- {
		m := mounts[i]
		if m == dir || strings.HasPrefix(m, dir+"/") {
			if err := unix.Unmount(m, unix.MNT_DETACH); err != nil && err != unix.EINVAL && err != unix.ENOENT {
				errs = append(errs, fmt.Errorf("unmount %s: %w", m, err))
			}
		}
	}
	return errors.Join(errs...)
}

// mountPoints lists the mount points of this mount namespace in mount order.
func mountPoints() ([]string, error) {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	var out []string
	for line := range strings.Lines(string(data)) {
		f := strings.Fields(line)
		if len(f) > 4 {
			out = append(out, unescapeMount(f[4]))
		}
	}
	return out, nil
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// tail returns the last n lines of out.
func tail(out []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
