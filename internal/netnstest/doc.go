// Package netnstest creates throw-away Linux network namespaces for tests.
//
// A test that needs its own network stack calls [New]:
//
//	func TestIPv6OnlyClient(t *testing.T) {
//		server := netnstest.New(t, netnstest.Options{Bridge: true})
//		client := netnstest.New(t, netnstest.Options{Bridge: true, NoIPv4: true})
//		sshd := server.Command("/usr/sbin/sshd", "-D", "-f", config)
//		if err := sshd.Start(); err != nil {
//			t.Fatal(err)
//		}
//		addr := netip.AddrPortFrom(server.IPv6(), 22).String()
//		conn, err := client.DialContext(t.Context(), "tcp", addr)
//		...
//	}
//
// Everything is removed by t.Cleanup: processes still running in the namespace are
// killed and the namespace is deleted.
//
// # Requirements
//
// The package drives iproute2's ip(8) and needs root on Linux. On any other machine
// [Require] (which [New] calls) skips the test and names what is missing: not Linux,
// not root, no ip in PATH, or a probe namespace that could not be created (for example
// in an unprivileged container). CI and the project's test machines run as root, so
// there the tests run.
//
// # Names and leftovers
//
// Every namespace is named "ect" + the owning process id in base 36 + "-" + a two
// character random tag of the process + a kind letter + a counter, for example
// "ect2k1f-q7n3". Names stay within 15 bytes, the limit for interface names. A run
// that was killed cannot clean up after itself, so the first [New] in a process calls
// [CleanupLeftovers], which deletes namespaces whose owning process is gone.
//
// # Bridged namespaces
//
// With [Options.Bridge] a namespace gets an eth0 that is plugged into a bridge shared
// by all bridged namespaces of the test process: IPv4 from 198.18.0.0/24 and IPv6
// from fd00:e:d9e::/64, the bridge itself being 198.18.0.1 and fd00:e:d9e::1. Host
// number n gives 198.18.0.n and fd00:e:d9e::n written with the same digits (host 12
// is 198.18.0.12 and fd00:e:d9e::12), which keeps logs readable.
//
// The bridge does not live in the host's network namespace but in a private "hub"
// namespace of the test process. So nothing is ever added to the host's interfaces
// or routes, parallel test processes (go test ./... runs packages in parallel) and a
// hand-made edge0 bridge can all use 198.18.0.0/24 at once without
// clashing, and deleting the namespaces removes every veth and bridge. The price is
// that the test process cannot reach a bridged namespace from the host side: it
// reaches it from another namespace, with [NS.DialContext], [NS.Do] or
// [NS.Command].
package netnstest
