package sweep

import (
	"fmt"
	"time"

	"github.com/edgectl/edgectl/notify"
)

// Alert statuses of an address.
const (
	AlertDown      = "down"
	AlertRecovered = "recovered"
)

// Alert is one transition people are told about (package notify renders
// and delivers it). Its JSON is the generic webhook's body.
type Alert = notify.Event

// addressEvent is a host+family going down or recovering.
func addressEvent(host, family, addr, status, errText string, now time.Time, count int) Alert {
	a := Alert{Kind: notify.KindAddress, Host: host, Family: family, Address: addr, Status: status, Error: errText, Time: now.UTC()}
	fam := map[string]string{"ipv4": "IPv4", "ipv6": "IPv6"}[family]
	if status == AlertDown {
		a.Severity = notify.SeverityCritical
		a.Text = fmt.Sprintf("edgectl sweep: %s %s %s is DOWN after %s: %s", host, fam, addr, plural(count, "failed sweep", "failed sweeps"), errText)
	} else {
		a.Severity = notify.SeverityInfo
		a.Text = fmt.Sprintf("edgectl sweep: %s %s %s recovered after %s", host, fam, addr, plural(count, "passing sweep", "passing sweeps"))
	}
	return a
}

// originEvent is a live agent whose upstreams are all down, or back.
func originEvent(host, status, detail string, now time.Time) Alert {
	a := Alert{Kind: notify.KindOrigin, Host: host, Status: status, Error: detail, Time: now.UTC()}
	if status == StatusDegraded {
		a.Severity = notify.SeverityCritical
		a.Text = fmt.Sprintf("edgectl sweep: %s answers but its origin is down: %s", host, detail)
	} else {
		a.Severity = notify.SeverityInfo
		a.Text = fmt.Sprintf("edgectl sweep: %s's origin is back: every upstream has a live server", host)
	}
	return a
}

// certEvent is a certificate crossing a threshold (status ok, warn, fail).
func certEvent(host string, t *TLSReport, now time.Time) Alert {
	a := Alert{Kind: notify.KindCert, Host: host, Address: t.Address, Status: t.Status, Error: t.Error, Time: now.UTC()}
	switch t.Status {
	case StatusFail:
		a.Severity = notify.SeverityCritical
		a.Text = fmt.Sprintf("edgectl sweep: %s certificate: %s", host, t.Error)
	case StatusWarn:
		a.Severity = notify.SeverityWarning
		a.Text = fmt.Sprintf("edgectl sweep: %s certificate: %s", host, t.Error)
	default:
		a.Severity = notify.SeverityInfo
		a.Text = fmt.Sprintf("edgectl sweep: %s certificate is fine again: %d days left", host, t.DaysLeft)
	}
	return a
}

// Statuses of DNS events.
const (
	DNSAdded   = "added"
	DNSRemoved = "removed"
	DNSRefused = "refused"
	DNSDrift   = "drift"
	DNSCleared = "cleared"
)

// driftEvent is a record that is no fleet address appearing (drift) or
// going away (cleared).
func driftEvent(name, addr, status string, now time.Time) Alert {
	a := Alert{Kind: notify.KindDNSDrift, Name: name, Family: rrType(addr), Address: addr, Status: status, Time: now.UTC()}
	if status == DNSDrift {
		a.Severity = notify.SeverityWarning
		a.Text = fmt.Sprintf("edgectl dns: %s has %s %s, which is no fleet address (stale record?): remove it, or add the host to the fleet", name, a.Family, addr)
	} else {
		a.Severity = notify.SeverityInfo
		a.Text = fmt.Sprintf("edgectl dns: %s no longer has %s %s", name, a.Family, addr)
	}
	return a
}

func rrType(addr string) string {
	for _, c := range addr {
		if c == ':' {
			return "AAAA"
		}
	}
	return "A"
}
