package testbed

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// process is a systemd-nspawn started by this process.
type process struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when it has exited and been reaped
}

func (b *Bed) hostDir(h *Host) string { return filepath.Join(b.Dir, "hosts", h.Name) }

// rootDir is where the host's overlay is mounted; its name carries the run
// prefix so that Cleanup recognises it.
func (b *Bed) rootDir(h *Host) string { return filepath.Join(b.Dir, "mnt", h.st.Net.NS) }

// ConsoleLog returns the path of the host's console log.
func (b *Bed) ConsoleLog(name string) string {
	return filepath.Join(b.Dir, "hosts", name, "console.log")
}

// mountRoot mounts the host's overlay (base tree below, the host's upper
// directory above) unless it is mounted already.
func (b *Bed) mountRoot(h *Host) error {
	hd, root := b.hostDir(h), b.rootDir(h)
	for _, d := range []string{filepath.Join(hd, "upper"), filepath.Join(hd, "work"), root} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	if mounted(root) {
		return nil
	}
	opts := "lowerdir=" + b.st.Base + ",upperdir=" + filepath.Join(hd, "upper") + ",workdir=" + filepath.Join(hd, "work")
	if err := unix.Mount("overlay", root, "overlay", 0, opts); err != nil {
		return fmt.Errorf("host %s: mount overlay on %s: %w", h.Name, root, err)
	}
	return nil
}

func mounted(path string) bool {
	mps, _ := mountPoints()
	for _, m := range mps {
		if m == path {
			return true
		}
	}
	return false
}

// nspawnArgs is the systemd-nspawn command line booting h.
func (b *Bed) nspawnArgs(h *Host) []string {
	hd := b.hostDir(h)
	args := []string{
		"--quiet", "--register=no", "--keep-unit", "-D", b.rootDir(h), "--boot",
		"--network-namespace-path=/run/netns/" + h.st.Net.NS,
		"-M", h.st.Net.NS, "--hostname=" + h.Name, "--uuid=" + h.st.UUID, "--console=read-only",
		"--bind-ro=" + filepath.Join(hd, "ssh_host_ed25519_key") + ":/etc/ssh/ssh_host_ed25519_key",
		"--bind-ro=" + filepath.Join(hd, "ssh_host_ed25519_key.pub") + ":/etc/ssh/ssh_host_ed25519_key.pub",
		"--bind-ro=" + filepath.Join(hd, "sshd.conf") + ":/etc/ssh/sshd_config.d/edgectl-testbed.conf",
		"--bind-ro=" + b.IdentityFile + ".pub:/root/.ssh/authorized_keys",
	}
	srcs := make([]string, 0, len(b.st.BindRO))
	for src := range b.st.BindRO {
		srcs = append(srcs, src)
	}
	sort.Strings(srcs)
	for _, src := range srcs {
		args = append(args, "--bind-ro="+src+":"+b.st.BindRO[src])
	}
	return args
}

// boot starts systemd-nspawn for h in its own process group, its console
// appended to the host's console log.
func (b *Bed) boot(h *Host) error {
	if err := b.mountRoot(h); err != nil {
		return err
	}
	log, err := os.OpenFile(b.ConsoleLog(h.Name), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer log.Close()
	fmt.Fprintf(log, "\n=== testbed: boot %s at %s ===\n", h.Name, time.Now().Format(time.RFC3339))
	cmd := exec.Command("systemd-nspawn", b.nspawnArgs(h)...)
	cmd.Stdout, cmd.Stderr = log, log
	// nspawn mounts /proc/sys read-only unless it made the network
	// namespace itself; the VPS owns its namespace, so /proc/sys/net is
	// writable as on a real host.
	cmd.Env = append(os.Environ(), "SYSTEMD_NSPAWN_API_VFS_WRITABLE=network")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("host %s: start systemd-nspawn: %w", h.Name, err)
	}
	p := &process{cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.done) }()
	h.proc = p
	h.st.PID = cmd.Process.Pid
	return nil
}

// bootAll boots hosts in parallel and waits until all are ready.
func (b *Bed) bootAll(ctx context.Context, hosts []*Host, timeout time.Duration) error {
	b.mu.Lock()
	for _, h := range hosts {
		if err := b.boot(h); err != nil {
			b.mu.Unlock()
			return err
		}
	}
	err := b.save()
	b.mu.Unlock()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	errs := make([]error, len(hosts))
	var wg sync.WaitGroup
	for i, h := range hosts {
		wg.Go(func() { errs[i] = b.waitReady(ctx, h, timeout) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// waitReady polls h until it answers SSH and systemd says running or degraded.
func (b *Bed) waitReady(ctx context.Context, h *Host, timeout time.Duration) error {
	last := "no answer on " + h.SSHAddr
	for {
		if !b.running(h) {
			return fmt.Errorf("host %s: systemd-nspawn exited during boot; console log %s ends:\n%s",
				h.Name, b.ConsoleLog(h.Name), b.consoleTail(h, 20))
		}
		d := net.Dialer{Timeout: time.Second}
		if c, err := d.DialContext(ctx, "tcp", h.SSHAddr); err == nil {
			_ = c.Close()
			rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			out, err := b.Run(rctx, h.Name, "systemctl is-system-running")
			cancel()
			state := strings.TrimSpace(string(out))
			if state == "running" || state == "degraded" {
				return nil
			}
			last = "systemctl is-system-running: " + state
			if state == "" && err != nil {
				last = err.Error()
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("host %s not ready within %s (last: %s); console log %s ends:\n%s",
				h.Name, timeout, last, b.ConsoleLog(h.Name), b.consoleTail(h, 20))
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func (b *Bed) consoleTail(h *Host, n int) string {
	data, _ := os.ReadFile(b.ConsoleLog(h.Name))
	return tail(data, n)
}

// running reports whether h's systemd-nspawn is alive.
func (b *Bed) running(h *Host) bool {
	if h.proc != nil {
		select {
		case <-h.proc.done:
			return false
		default:
			return true
		}
	}
	return isNspawnFor(h.st.PID, h.st.Net.NS)
}

// isNspawnFor reports whether pid is a live systemd-nspawn for namespace ns
// (and not a later process that got the same pid).
func isNspawnFor(pid int, ns string) bool {
	if !pidAlive(pid) {
		return false
	}
	cmdline, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	return err == nil && strings.Contains(string(cmdline), "--network-namespace-path=/run/netns/"+ns+"\x00")
}
