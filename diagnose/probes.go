package diagnose

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/edgectl/edgectl/probe"
	"github.com/edgectl/edgectl/remote"
)

// probeSpec is one HTTP probe to make.
type probeSpec struct {
	Addr   netip.AddrPort
	Scheme string
	Path   string
	Host   string
}

// url is the probe's target for messages.
func (s probeSpec) url() string {
	return s.Scheme + "://" + s.Addr.String() + s.Path
}

// doProbe runs one probe from the host.
func doProbe(ctx context.Context, h remote.Host, s probeSpec, timeout time.Duration) probe.Result {
	return probe.Do(ctx, probe.Request{Addr: s.Addr.String(), Scheme: s.Scheme, Path: s.Path, Host: s.Host, Timeout: timeout, Dial: h.DialContext})
}

// describeProbe says what a probe saw: "200 in 3ms", "refused", …
func describeProbe(s probeSpec, r probe.Result, timeout time.Duration) string {
	target := "GET " + s.url()
	switch {
	case r.Err == nil:
		return fmt.Sprintf("%s → %d in %s", target, r.Status, roundDur(r.Latency))
	case r.Kind == probe.KindRefused:
		return target + " → connection refused"
	case r.Kind == probe.KindTimeout && r.Connected:
		return fmt.Sprintf("%s → connected, no response within %s", target, timeout)
	case r.Kind == probe.KindTimeout:
		return fmt.Sprintf("%s → no answer to the connection attempt within %s (packets dropped)", target, timeout)
	case r.Kind == probe.KindUnreachable:
		return fmt.Sprintf("%s → unreachable: %v", target, shortErr(r.Err))
	case r.Kind == probe.KindReset:
		return target + " → connection closed or reset without a response"
	case r.Kind == probe.KindProtocol:
		return target + " → the answer is not HTTP"
	}
	return fmt.Sprintf("%s → %s: %v", target, r.Kind, shortErr(r.Err))
}

// shortErr drops the "dial tcp6 [::1]:8000: connect:" prefix Go puts on errors.
func shortErr(err error) string {
	if err == nil {
		return ""
	}
	if oe, ok := err.(*net.OpError); ok && oe.Err != nil {
		return oe.Err.Error()
	}
	return err.Error()
}

// roundDur rounds a latency for display.
func roundDur(d time.Duration) time.Duration {
	switch {
	case d >= time.Second:
		return d.Round(10 * time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(time.Millisecond)
	}
	return d.Round(10 * time.Microsecond)
}
