// Package sshtest runs a real OpenSSH sshd for tests.
//
// [Start] writes a throw-away configuration under t.TempDir(): freshly
// generated host and client keys, an authorized_keys file, a known_hosts file
// listing the host key for every listen address, and an sshd_config that
// allows public-key logins for the current user, TCP forwarding and the
// internal SFTP server. sshd runs in the foreground (-D -e) and is killed when
// the test ends; its log is printed when the test failed.
//
//	srv := sshtest.Start(t, sshtest.Options{})
//	h, err := remote.DialSSH(ctx, srv.Config("edge-1"))
//
// With [Options.Netns] sshd runs inside a network namespace from
// internal/netnstest, listening on the namespace's bridge addresses.
//
// sshd logs in the user the test runs as, which only works for root: without
// root, or without /usr/sbin/sshd (apt-get install openssh-server), Start skips
// the test and says why.
package sshtest
