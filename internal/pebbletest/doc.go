// Package pebbletest runs a real ACME CA for tests: Let's Encrypt's Pebble
// and pebble-challtestsrv (its DNS server, driven through a management API)
// on loopback ports chosen per test.
//
// The two binaries are built once from the pebble module in the Go module
// cache (github.com/letsencrypt/pebble/v2 at Version) and kept under the
// user cache directory keyed by that version, so later test runs do not
// rebuild them. Pebble validates for real: PEBBLE_VA_ALWAYS_VALID is never
// set. What is set: PEBBLE_VA_NOSLEEP=1 (no random validation delay),
// PEBBLE_WFE_NONCEREJECT=0 (no deliberately bad nonces) and
// PEBBLE_AUTHZREUSE=0 (every order is validated, none reuses an earlier
// authorization).
//
// challtestsrv starts with no default A or AAAA answer: a test sets the
// records of each name it uses with AddA and AddAAAA, and Pebble's VA
// resolves through it (it tries the first AAAA address, else the first A).
package pebbletest
