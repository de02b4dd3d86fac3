// Package remote is the seam between edgectl and the hosts it manages: run a
// command, read and write files, and dial sockets from the host's point of
// view. Local runs on this machine; SSH runs on another one over one verified
// SSH connection. Everything above this package (diagnose, provision, cert,
// sweep --deep) is written against Host and so works the same locally and
// over SSH.
//
// # SSH
//
// DialSSH connects with an SSHConfig (provision.SSHConfigFor makes one from
// fleet.yaml's ssh: section; this package knows nothing of fleet files):
//
//	h, err := remote.DialSSH(ctx, remote.SSHConfig{Name: "edge-1",
//		Addr: "[2001:db8::5]:22", User: "root", KnownHosts: kh, AcceptNew: accept})
//
// Host keys are always checked against the known_hosts file (OpenSSH
// format, hashed names included). A host that is not listed, or whose key
// differs from the listed one, gives a *HostKeyError whose message says
// what to do; AcceptNew records unknown keys (never changed ones), safely
// when many hosts connect at once, or with KnownHostsReadOnly trusts them
// for the one connection only (a dry run writes nothing). Login problems
// (no usable key, every key refused) are an *AuthError. Neither message
// names a command-line flag: the CLI adds those. The client asks for the key types that
// known_hosts lists for the host, so a host with several keys offers the
// one we know. An optional jump host (ssh.jump) is verified the same way.
//
// Logins use the identity file and, when SSH_AUTH_SOCK is set, the
// ssh-agent's keys. An encrypted identity file needs SSHConfig.Passphrase
// or the agent.
//
// One SSH connection serves everything: each Run opens a session (each of
// stdout and stderr kept up to MaxOutput, then cut with a marker), files go
// through one lazily opened SFTP client (WriteFile is atomic: a temporary
// ".<name>.edgectl.tmp-<random>" file, chmod, fsync, posix-rename), and
// DialContext opens direct-tcpip channels, so "[::1]:8000" is the host's
// own loopback, or direct-streamlocal ones for "unix" sockets. A keepalive
// closes connections to hosts that stopped answering; Ping checks one on
// demand.
//
// # Connections that come back
//
// A Redialer wraps a connection and a way to dial it again: an operation
// that fails because the transport broke (Broken) drops the connection,
// and the next one dials anew. Deploy's gate and rollback use it so that a
// partition ends with a fresh connection instead of a TCP connection stuck
// in back-off.
//
// Test doubles live in remote/remotetest: a recording fake Host with a
// model file system, and Rooted.
package remote
