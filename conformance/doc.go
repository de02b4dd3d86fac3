// Package conformance is a differential test of the agent's HTTP/1.1 edge
// against nginx and HAProxy: hostile and odd client requests, and hostile
// or broken upstream responses, each sent through all three proxies in the
// same run to a recording backend. What the backend received and what the
// client got back are classified per proxy (rejected, neutralised,
// forwarded as is, or error, and whether a pooled upstream connection got
// desynchronised), printed as a table and kept as a golden file. A hostile
// case that nginx and HAProxy both refuse or neutralise and the agent does
// not is a test failure.
//
// Everything lives in the tests: go test ./conformance/ (make conformance)
// runs it where nginx and haproxy are installed and skips elsewhere.
package conformance
