package remote

import (
	"context"
	"os"

	"github.com/edgectl/edgectl/fleet"
)

// ConfigFor is the SSHConfig for host h of fleet f: its SSH address on
// ssh.port, ssh.user, ssh.identity_file, ssh.known_hosts, ssh.jump, and
// the ssh-agent from SSH_AUTH_SOCK. AcceptNew is left false; set it for
// --accept-new.
func ConfigFor(f *fleet.Fleet, h fleet.Host) SSHConfig {
	cfg := SSHConfig{
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

// Dialer connects to a fleet host. Commands that act on many hosts
// (provision, cert, sweep) take one, so tests can hand them real sshd
// servers or Local.
type Dialer func(ctx context.Context, h fleet.Host) (Host, error)

// SSHDialer dials every host of f over SSH with ConfigFor; acceptNew
// records unknown host keys (--accept-new) and passphrase, when not nil,
// is asked for an encrypted identity file.
func SSHDialer(f *fleet.Fleet, acceptNew bool, passphrase func(path string) ([]byte, error)) Dialer {
	return func(ctx context.Context, h fleet.Host) (Host, error) {
		cfg := ConfigFor(f, h)
		cfg.AcceptNew = acceptNew
		cfg.Passphrase = passphrase
		s, err := DialSSH(ctx, cfg)
		if err != nil {
			return nil, err
		}
		return s, nil
	}
}
