// Package proxy is edgectl's data plane: a hand-written HTTP/1.1 reverse
// proxy engine with upstream pools, peer selection, active and passive
// health, retries with nginx-compatible rules, keepalive connection pools,
// WebSocket tunnels and event-by-event streaming.
//
// The engine parses and forwards HTTP/1.1 itself rather than going through
// net/http: a request costs four syscalls and no allocations on the hot
// path, which is what it takes to match nginx on a small VPS. Request and
// response bodies are streamed; a response is flushed to the client whenever
// the upstream has nothing more buffered, so Server-Sent Events arrive one by
// one.
//
// The types are:
//
//   - Handler serves client connections (ServeConn) using a Config of
//     routes and upstreams that can be swapped atomically.
//   - Upstream is a pool of Peers with a selection policy.
//   - Peer is one upstream address with its health state and idle
//     connections.
package proxy
