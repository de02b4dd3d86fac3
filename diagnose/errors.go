package diagnose

import (
	"errors"
	"fmt"
	"strings"
)

// ErrUsage marks errors caused by the invocation or the configuration
// (a missing or invalid agent.yaml, nothing to diagnose found): the CLI
// exits 2 on them. Every error below matches it.
var ErrUsage = errors.New("usage")

// Option errors from Options.Validate.
var (
	// ErrConfigAndNginx: Config and Nginx both name the proxy.
	ErrConfigAndNginx = usageErr{errors.New("an agent configuration and nginx both name the proxy; name one")}
	// ErrNegativeTimeout: ProbeTimeout or KeepaliveWait is negative.
	ErrNegativeTimeout = usageErr{errors.New("timeouts must not be negative")}
)

// PortError is a Port outside 1-65535.
type PortError struct{ Port int }

func (e *PortError) Error() string        { return fmt.Sprintf("%d is not a TCP port (1-65535)", e.Port) }
func (e *PortError) Is(target error) bool { return target == ErrUsage }

// URLError is a health URL that cannot be probed.
type URLError struct {
	URL    string
	Reason string
}

func (e *URLError) Error() string        { return fmt.Sprintf("health URL %q: %s", e.URL, e.Reason) }
func (e *URLError) Is(target error) bool { return target == ErrUsage }

// NotFoundError says that no proxy was found on the host and nothing else
// was named: Looked lists every place searched, with what was found.
type NotFoundError struct {
	Host   string
	Looked []string
}

func (e *NotFoundError) Error() string {
	return fmt.Sprintf("%s: found nothing to diagnose: %s", e.Host, strings.Join(e.Looked, "; "))
}
func (e *NotFoundError) Is(target error) bool { return target == ErrUsage }

// NoUpstreamsError is a proxy configuration without an upstream server
// that can be probed (all by hostname, or none at all).
type NoUpstreamsError struct {
	Host   string
	Source string
}

func (e *NoUpstreamsError) Error() string {
	return fmt.Sprintf("%s: %s lists no upstream server with an IP address or localhost", e.Host, e.Source)
}
func (e *NoUpstreamsError) Is(target error) bool { return target == ErrUsage }

// usageErr wraps err so errors.Is(err, ErrUsage) holds.
type usageErr struct{ err error }

func (e usageErr) Error() string        { return e.err.Error() }
func (e usageErr) Unwrap() error        { return e.err }
func (e usageErr) Is(target error) bool { return target == ErrUsage }
