package testbed

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
)

// SSHArgs returns the ssh command line (without the remote command) that
// logs in to host name as root with the run's key and known_hosts, checking
// the host key strictly and reading no user configuration.
func (b *Bed) SSHArgs(name string) ([]string, error) {
	h, err := b.host(name)
	if err != nil {
		return nil, err
	}
	addr := h.IPv4
	if addr == "" {
		addr = h.IPv6
	}
	return []string{"ssh", "-F", "/dev/null", "-i", b.IdentityFile,
		"-o", "IdentitiesOnly=yes", "-o", "UserKnownHostsFile=" + b.KnownHostsFile,
		"-o", "GlobalKnownHostsFile=/dev/null", "-o", "StrictHostKeyChecking=yes",
		"-o", "BatchMode=yes", "-o", "ConnectTimeout=5", "-o", "LogLevel=ERROR",
		"-p", "22", "-l", "root", addr}, nil
}

// Run runs cmd through the login shell of root on host name over SSH (the
// ssh client binary, see SSHArgs) and returns its standard output. A
// non-zero exit is an error that carries the exit status and standard error;
// the output is returned as well.
func (b *Bed) Run(ctx context.Context, name, cmd string) ([]byte, error) {
	args, err := b.SSHArgs(name)
	if err != nil {
		return nil, err
	}
	c := exec.CommandContext(ctx, args[0], append(args[1:], "--", cmd)...)
	var stdout, stderr bytes.Buffer
	c.Stdout, c.Stderr = &stdout, &stderr
	if err := c.Run(); err != nil {
		return stdout.Bytes(), fmt.Errorf("host %s: ssh %s: %q: %w: %s", name, args[len(args)-1], cmd, err, strings.TrimSpace(stderr.String()))
	}
	return stdout.Bytes(), nil
}
