package diagnose

// Status is the verdict of one check.
type Status string

// Check statuses.
const (
	StatusOK   Status = "ok"
	StatusWarn Status = "warn"
	StatusFail Status = "fail"
	StatusSkip Status = "skip"
)

// Report is the result of a run. Its JSON form is what `diagnose --json`
// prints (docs/json.md).
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
	// Hint names an option of the run that would have let this check see
	// more (a skipped check, a guessed health path); the CLI words it as
	// its flag. Empty when there is nothing to add.
	Hint Hint `json:"-"`
}

// Hint is an option of the run that would make a check see more.
type Hint string

// Hints, each for an Options field.
const (
	HintNone          Hint = ""
	HintProxy         Hint = "proxy"          // name the proxy: Config or Nginx
	HintHealthURL     Hint = "health-url"     // URL: the backend's real health path
	HintErrorLog      Hint = "error-log"      // ErrorLog: the proxy's error log
	HintUnit          Hint = "unit"           // Units: the backend's systemd unit
	HintKeepaliveWait Hint = "keepalive-wait" // KeepaliveWait: watch idle connections longer
	HintRoot          Hint = "root"           // run as root: socket owners, firewall rules
)

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
