package e2e

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// lookupAll asks server for name's A and AAAA records.
func lookupAll(server, name string) ([]string, error) {
	c := &dns.Client{Timeout: time.Second}
	var out []string
	for _, q := range []uint16{dns.TypeA, dns.TypeAAAA} {
		m := new(dns.Msg)
		m.SetQuestion(dns.Fqdn(name), q)
		in, _, err := c.Exchange(m, server)
		if err != nil {
			return nil, err
		}
		for _, rr := range in.Answer {
			switch v := rr.(type) {
			case *dns.A:
				out = append(out, v.A.String())
			case *dns.AAAA:
				out = append(out, v.AAAA.String())
			}
		}
	}
	sort.Strings(out)
	return out, nil
}

// follower is a client that follows DNS: it re-resolves the name every
// second and spreads GETs over the addresses of both families it got.
type follower struct {
	load
	addrs   atomic.Pointer[[]string]
	mu      sync.Mutex
	answers []answer // every answer the client took, in order
}

// answer is a lookup result the follower took, and when it took it.
type answer struct {
	at    time.Time
	addrs []string
}

func startFollower(t *testing.T, server, name string) *follower {
	t.Helper()
	f := &follower{load: load{stop: make(chan struct{})}}
	first, err := lookupAll(server, name)
	if err != nil || len(first) == 0 {
		t.Fatalf("resolve %s at %s: %v %v", name, server, first, err)
	}
	f.take(first)
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-f.stop:
				return
			case <-tick.C:
			}
			// A failed lookup keeps the last answer, as a stub resolver's
			// cache would.
			if a, err := lookupAll(server, name); err == nil && len(a) > 0 {
				f.take(a)
			}
		}
	}()
	for w := 0; w < 6; w++ {
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 2}}
			for i := w; ; i++ {
				select {
				case <-f.stop:
					return
				default:
				}
				addrs := *f.addrs.Load()
				addr := addrs[i%len(addrs)]
				f.get(c, net.JoinHostPort(addr, "80"))
			}
		}()
	}
	return f
}

// get sends one request and counts it.
func (f *follower) get(c *http.Client, hostport string) {
	resp, err := c.Get("http://" + hostport + "/")
	f.sent.Add(1)
	if err == nil {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.HasPrefix(string(body), "ok from") {
			err = fmt.Errorf("HTTP %d %q", resp.StatusCode, body)
		}
	}
	if err != nil {
		f.failed.Add(1)
		f.mu.Lock()
		if len(f.errs) < 10 {
			f.errs = append(f.errs, hostport+": "+err.Error())
		}
		f.mu.Unlock()
	}
}

// take makes a the addresses requests are spread over from now on.
func (f *follower) take(a []string) {
	f.addrs.Store(&a)
	f.mu.Lock()
	f.answers = append(f.answers, answer{at: time.Now(), addrs: a})
	f.mu.Unlock()
}

// sawGone is when the client first took an answer without addr at or
// after since, and whether it did before until.
func (f *follower) sawGone(addr string, since, until time.Time) (time.Time, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, a := range f.answers {
		if a.at.Before(since) {
			continue
		}
		if !a.at.Before(until) {
			break
		}
		gone := true
		for _, x := range a.addrs {
			gone = gone && x != addr
		}
		if gone {
			return a.at, true
		}
	}
	return time.Time{}, false
}

// outage is an address absent from DNS between from and to.
type outage struct {
	addr     string
	from, to time.Time
}

// dnsWatch polls the server every 100 ms and records when each address
// leaves and comes back.
type dnsWatch struct {
	stopc chan struct{}
	done  chan []outage
}

func watchDNS(server, name string) *dnsWatch {
	w := &dnsWatch{stopc: make(chan struct{}), done: make(chan []outage, 1)}
	go func() {
		var outs []outage
		gone := map[string]time.Time{}
		prev, _ := lookupAll(server, name)
		for {
			select {
			case <-w.stopc:
				w.done <- outs
				return
			case <-time.After(100 * time.Millisecond):
			}
			cur, err := lookupAll(server, name)
			if err != nil {
				continue
			}
			now := time.Now()
			in := map[string]bool{}
			for _, a := range cur {
				in[a] = true
				if since, ok := gone[a]; ok {
					outs = append(outs, outage{addr: a, from: since, to: now})
					delete(gone, a)
				}
			}
			for _, a := range prev {
				if _, ok := gone[a]; !ok && !in[a] {
					gone[a] = now
				}
			}
			prev = cur
			for a := range gone {
				prev = append(prev, a) // still watched until it is back
			}
		}
	}()
	return w
}

func (w *dnsWatch) stop() []outage {
	close(w.stopc)
	return <-w.done
}
