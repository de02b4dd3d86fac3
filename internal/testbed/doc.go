// Package testbed boots a fleet of real Debian VPS on this machine for
// end-to-end tests and demos: each host is systemd as PID 1 under
// systemd-nspawn, in its own network namespace, reachable from the caller's
// (root) namespace over SSH on IPv4, IPv6 or both.
//
//	bed := testbed.StartT(t, testbed.Options{Hosts: testbed.Default3()})
//	os.WriteFile(path, bed.FleetYAML("rollout:\n  batch: 1\n"), 0o600)
//	out, err := bed.Run(ctx, "vps1", "systemctl is-system-running")
//
// # Base tree
//
// All hosts boot from one Debian bookworm tree made by debootstrap (minbase
// plus systemd, openssh-server, iproute2, curl, nftables, ...). It is built
// once into $EDGECTL_TESTBED_CACHE (default /var/cache/edgectl-testbed) under
// a name keyed by the suite, the package list and the recipe, in a temporary
// directory renamed when complete, under a file lock. See [EnsureBase].
//
// Every host gets its own writable overlay on top of the base tree, kept in
// the run directory: a host keeps its files across [Bed.Stop] and
// [Bed.Start] (a power cycle), and every run starts from a clean tree.
//
// # Network
//
// A run has one bridge in the root namespace holding 198.19.K.1/24 and
// fd00:e:d9e:K::1/64, K chosen under a lock so that concurrent runs do not
// collide. Host i (from 0) is 198.19.K.(11+i) and fd00:e:d9e:K::(11+i)
// (the same digits, read as hex), on an eth0 plugged into the bridge by a
// veth, with default routes via the bridge. There is no forwarding and no
// NAT: hosts reach each other and the root namespace, nothing else.
//
// # SSH
//
// Every host has its own ed25519 host key, bind-mounted read-only with an
// sshd_config.d drop-in that offers only that key and refuses passwords. A
// per-run client key is root's authorized_keys on every host, and the run's
// known_hosts lists every host key under each of the host's addresses.
// [Bed.Run] uses the ssh client binary with those files and strict host key
// checking.
//
// # Names and leftovers
//
// Bridge, veths, namespaces and overlay mounts are named "etb" + the owning
// process id in base 36 + a two-character random tag + "-" + a kind, within
// the 15 bytes of an interface name. [Cleanup] removes those of owners that
// are gone; [Start] calls it once per process.
//
// # Requirements
//
// Root, systemd-nspawn (systemd-container), debootstrap, iproute2 and the
// OpenSSH client; the first build needs the Debian mirror.
package testbed
