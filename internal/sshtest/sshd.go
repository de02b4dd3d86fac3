package sshtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgectl/edgectl/internal/netnstest"
)

// errAddrInUse marks a start that failed because a port was taken meanwhile.
var errAddrInUse = errors.New("address already in use")

// startTimeout bounds how long sshd gets to answer on every address.
const startTimeout = 15 * time.Second

// config renders sshd_config for the server's addresses.
//
// SetEnv SHLVL=1 keeps the login shell from reading ~/.bashrc (bash reads it
// for sshd sessions only at shell level 1): the test host is this machine,
// and a developer's shell set-up (pyenv's rehash lock, conda) must not slow
// or hang every command a test runs. The testbed VPS keep their own rc files.
func (s *Server) config(hostKeys []string) string {
	var b strings.Builder
	for _, k := range hostKeys {
		fmt.Fprintf(&b, "HostKey %s\n", k)
	}
	for _, a := range s.Addrs {
		fmt.Fprintf(&b, "ListenAddress %s\n", a)
	}
	fmt.Fprintf(&b, "PidFile %s\n", filepath.Join(s.Dir, "sshd.pid"))
	fmt.Fprintf(&b, "AuthorizedKeysFile %s\n", s.authorized)
	b.WriteString(`UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
StrictModes no
PermitRootLogin yes
AllowTcpForwarding yes
AllowStreamLocalForwarding yes
X11Forwarding no
UseDNS no
PrintMotd no
PrintLastLog no
MaxSessions 64
MaxStartups 200:30:400
LoginGraceTime 30
LogLevel VERBOSE
Subsystem sftp internal-sftp
SetEnv SHLVL=1
`)
	return b.String()
}

// start writes the config and runs sshd until it answers on every address.
// On success sshd is killed by t.Cleanup; on failure it is already gone.
func (s *Server) start(t testing.TB, ns *netnstest.NS, hostKeys []string) error {
	cfgPath := filepath.Join(s.Dir, "sshd_config")
	if err := os.WriteFile(cfgPath, []byte(s.config(hostKeys)), 0o600); err != nil {
		return err
	}
	// sshd insists on its privilege separation directory.
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		return fmt.Errorf("create /run/sshd: %w", err)
	}
	logPath := filepath.Join(s.Dir, "sshd.log")
	logf, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	args := []string{"-D", "-e", "-f", cfgPath}
	var cmd *exec.Cmd
	dial := (&net.Dialer{}).DialContext
	if ns != nil {
		cmd = ns.Command(SSHD, args...)
		dial = ns.DialContext
	} else {
		cmd = exec.Command(SSHD, args...)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", SSHD, err)
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	s.pid = cmd.Process.Pid
	stop := func() {
		killTree(cmd.Process.Pid)
		<-exited
	}

	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	go func() {
		select {
		case <-exited:
			cancel()
		case <-ctx.Done():
		}
	}()
	for _, a := range s.Addrs {
		if err := waitSSH(ctx, dial, a); err != nil {
			stop()
			log := s.Log()
			if strings.Contains(log, "Address already in use") {
				return fmt.Errorf("sshd on %s: %w", strings.Join(s.Addrs, " "), errAddrInUse)
			}
			return fmt.Errorf("sshd did not answer on %s within %v (%v); its log:\n%s", a, startTimeout, err, log)
		}
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("sshtest: log of sshd on %s:\n%s", strings.Join(s.Addrs, " "), s.Log())
		}
	})
	return nil
}
