package diagnose

import "errors"

// Status is the verdict of one check.
type Status string

// Check statuses.
const (
	StatusOK   Status = "ok"
	StatusWarn Status = "warn"
	StatusFail Status = "fail"
	StatusSkip Status = "skip"
)

// Report is the result of a run. Its JSON form is the `diagnose --json`
// contract of SPEC.md.
type Report struct {
	// Host is the diagnosed host's name ("localhost" for a local run).
	Host string `json:"host"`
	// Status is "ok" when no problem was found, "problem" otherwise.
	Status string `json:"status"`
	// Cause is the most likely root cause, nil when healthy.
	Cause *Cause `json:"cause"`
	// Checks are every check made, in a stable order.
	Checks []Check `json:"checks"`
}

// Cause is a root cause with its fix.
type Cause struct {
	// ID is stable for scripts: see the Cause* constants.
	ID string `json:"id"`
	// Summary says what is wrong and why, in one line.
	Summary string `json:"summary"`
	// Fix says what to do, fitted to the program and proxy found.
	Fix string `json:"fix"`
}

// Check is one thing looked at.
type Check struct {
	// ID is stable: "listen.ipv6", "probe.ipv4", "upstream.backend_api.[::1]:8000", …
	ID string `json:"id"`
	// Status is ok, warn, fail or skip.
	Status Status `json:"status"`
	// Summary is one line for the table.
	Summary string `json:"summary"`
	// Evidence is what was seen (addresses, pids, log counts, rule lines).
	Evidence string `json:"evidence"`
	// Fix is what to do when the status is warn or fail.
	Fix string `json:"fix"`
}

// Cause ids.
const (
	CauseNothingListening = "nothing-listening"
	CauseIPv4OnlyBackend  = "ipv4-only-backend"
	CauseIPv6OnlyBackend  = "ipv6-only-backend"
	CauseBindV6Only       = "bindv6only"
	CauseV6OnlySocket     = "v6only-socket"
	CauseBackendUnhealthy = "backend-unhealthy"
	CauseBackendTimeout   = "backend-timeout"
	CauseBackendReset     = "backend-reset"
	CauseNotHTTP          = "not-http"
	CauseKeepaliveRace    = "keepalive-race"
	CauseWrongPort        = "wrong-port"
	CausePortTaken        = "port-taken"
	CauseIPv6Disabled     = "ipv6-disabled"
	CauseFirewallIPv6     = "firewall-ipv6"
	CauseFirewallIPv4     = "firewall-ipv4"
	CauseUpstreamRefused  = "upstream-refused"
	CauseNoLiveUpstreams  = "no-live-upstreams"
	CauseUpstreamClosed   = "upstream-closed"
	CauseHeaderTooBig     = "header-too-big"
	CauseProxyDown        = "proxy-down"
	CauseProxyError       = "proxy-error"
	CauseServiceDown      = "service-down"
	CauseCertificate      = "certificate"
)

// ErrUsage marks errors caused by the invocation or the configuration
// (a missing or invalid agent.yaml, nothing to diagnose found): the CLI
// exits 2 on them.
var ErrUsage = errors.New("usage")

// usageErr wraps err so errors.Is(err, ErrUsage) holds.
type usageErr struct{ err error }

func (e usageErr) Error() string        { return e.err.Error() }
func (e usageErr) Unwrap() error        { return e.err }
func (e usageErr) Is(target error) bool { return target == ErrUsage }
