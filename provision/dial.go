package provision

import (
	"context"
	"os"

	"github.com/edgectl/edgectl/fleet"
	"github.com/edgectl/edgectl/remote"
)

// Dialer connects to a fleet host. Commands that act on many hosts
// (deploy, cert, sweep --deep) take one, so tests can hand them real sshd
// servers, remote.Local or a recording fake. It is an alias of a plain
// func type so that packages which only need the shape (sweep, certs) do
// not import provision.
type Dialer = func(ctx context.Context, h fleet.Host) (remote.Host, error)

// SSHConfigFor is the remote.SSHConfig for host h of fleet f: its SSH
// address on ssh.port, ssh.user, ssh.identity_file, ssh.known_hosts,
// ssh.jump, and the ssh-agent from SSH_AUTH_SOCK. AcceptNew is left false.
func SSHConfigFor(f *fleet.Fleet, h fleet.Host) remote.SSHConfig {
	cfg := remote.SSHConfig{
		Name:         h.Name,
		Addr:         h.SSHAddr(f.SSH.Port),
		User:         f.SSH.User,
		IdentityFile: f.SSH.IdentityFile,
		KnownHosts:   f.SSH.KnownHosts,
		Agent:        os.Getenv("SSH_AUTH_SOCK"),
	}
	if user, addr, ok := f.SSH.JumpHost(); ok {
		cfg.Jump = user + "@" + addr
	}
	return cfg
}

// SSHDialer dials every host of f over SSH with SSHConfigFor, each config
// passed through tune first (nil: unchanged), where the caller sets
// AcceptNew, Passphrase, timeouts or keepalives.
func SSHDialer(f *fleet.Fleet, tune func(*remote.SSHConfig)) Dialer {
	return func(ctx context.Context, h fleet.Host) (remote.Host, error) {
		cfg := SSHConfigFor(f, h)
		if tune != nil {
			tune(&cfg)
		}
		s, err := remote.DialSSH(ctx, cfg)
		if err != nil {
			return nil, err
		}
		return s, nil
	}
}
