// Package e2e holds the end-to-end tests of edgectl against a real fleet:
// Debian VPS booted with systemd in network namespaces (internal/testbed),
// reached over real SSH by the real edgectl binary. They need root,
// systemd-nspawn and debootstrap, and skip with the reason elsewhere.
// `make e2e` runs them; so does CI.
package e2e
