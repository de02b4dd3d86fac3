// Package remote is the seam between edgectl and the hosts it manages: run a
// command, read and write files, and dial sockets from the host's point of
// view. Local runs on this machine; SSH runs on another one over one verified
// SSH connection. Everything above this package (diagnose, provision, cert,
// sweep --deep) is written against Host and so works the same locally and
// over SSH.
//
// # SSH
//
// DialSSH connects with an SSHConfig, usually made by ConfigFor from
// fleet.yaml's ssh: section:
//
//	cfg := provision.SSHConfigFor(f, host) // or a remote.SSHConfig of your own
//	cfg.AcceptNew = acceptNew // --accept-new
//	h, err := remote.DialSSH(ctx, cfg)
//
// Host keys are always checked against the known_hosts file (OpenSSH
// format, hashed names included). A host that is not listed, or whose key
// differs from the listed one, gives a *HostKeyError whose message says
// what to do; AcceptNew records unknown keys (never changed ones), safely
// when many hosts connect at once. The client asks for the key types that
// known_hosts lists for the host, so a host with several keys offers the
// one we know. An optional jump host (ssh.jump) is verified the same way.
//
// Logins use the identity file and, when SSH_AUTH_SOCK is set, the
// ssh-agent's keys. An encrypted identity file needs SSHConfig.Passphrase
// or the agent.
//
// One SSH connection serves everything: each Run opens a session, files go
// through one lazily opened SFTP client (WriteFile is atomic: temporary
// file, chmod, fsync, posix-rename), and DialContext opens direct-tcpip
// channels, so "[::1]:8000" is the host's own loopback. A keepalive closes
// connections to hosts that stopped answering.
//
// Commands acting on many hosts take a Dialer (SSHDialer in production), so
// tests can hand them real sshd servers from internal/sshtest.
package remote
