package diagnose

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/edgectl/edgectl/remote"
)

// idleResult is how the backend treated an idle keepalive connection.
type idleResult struct {
	Spec probeSpec
	// Closed is true when the backend closed the idle connection within
	// Waited; After is when.
	Closed bool
	After  time.Duration
	Waited time.Duration
	// NoKeepalive is true when the backend answered "Connection: close".
	NoKeepalive bool
	// Advertised is the Keep-Alive: timeout=N the backend sent (0 if none).
	Advertised time.Duration
	Err        error
}

var keepAliveTimeoutRE = regexp.MustCompile(`(?i)timeout=(\d+)`)

// measureIdle sends one keepalive request to the backend, then watches the
// idle connection for up to wait to see whether the backend closes it. The
// whole measurement is bounded by timeout.
func measureIdle(ctx context.Context, h remote.Host, s probeSpec, wait, timeout time.Duration) idleResult {
	res := idleResult{Spec: s}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	network := "tcp4"
	if family(s.Addr.Addr()) == "ipv6" {
		network = "tcp6"
	}
	conn, err := h.DialContext(ctx, network, s.Addr.String())
	if err != nil {
		res.Err = err
		return res
	}
	// Deadlines are not supported on every connection (SSH channels), so
	// closing the connection is what ends a wait.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	defer conn.Close()
	var rw net.Conn = conn
	host := s.Host
	if host == "" {
		host = s.Addr.Addr().String()
		if s.Addr.Addr().Is6() {
			host = "[" + host + "]"
		}
	}
	if s.Scheme == "https" {
		tc := tls.Client(conn, &tls.Config{ServerName: strings.Trim(s.Addr.Addr().String(), "[]"), InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}}) //nolint:gosec // measuring, not trusting
		if err := tc.HandshakeContext(ctx); err != nil {
			res.Err = err
			return res
		}
		rw = tc
	}
	if _, err := fmt.Fprintf(rw, "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: edgectl-diagnose\r\nConnection: keep-alive\r\n\r\n", s.Path, host); err != nil {
		res.Err = err
		return res
	}
	br := bufio.NewReader(rw)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		res.Err = err
		return res
	}
	_, err = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if err != nil {
		res.Err = err
		return res
	}
	if resp.Close {
		res.NoKeepalive = true
		return res
	}
	if m := keepAliveTimeoutRE.FindStringSubmatch(resp.Header.Get("Keep-Alive")); m != nil {
		n, _ := strconv.Atoi(m[1])
		res.Advertised = time.Duration(n) * time.Second
	}
	idle := time.Now()
	done := make(chan error, 1)
	go func() {
		_, err := br.ReadByte()
		done <- err
	}()
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case err := <-done:
		res.After = time.Since(idle)
		if errors.Is(err, io.EOF) || isReset(err) || err == nil {
			res.Closed = true
		} else if ctx.Err() != nil {
			res.Waited = res.After
		} else {
			res.Closed = true
		}
	case <-t.C:
		res.Waited = wait
	case <-ctx.Done():
		res.Waited = time.Since(idle)
	}
	return res
}

func isReset(err error) bool {
	return err != nil && (strings.Contains(err.Error(), "reset") || strings.Contains(err.Error(), "broken pipe"))
}

// knownIdleTimeout is a backend's idle timeout inferred from its command
// line when it was not measured: uvicorn closes idle connections after 5 s
// unless --timeout-keep-alive says otherwise, gunicorn after 2 s
// (--keep-alive).
func knownIdleTimeout(p *Process) (time.Duration, string) {
	if p == nil {
		return 0, ""
	}
	f := strings.Fields(p.Cmdline)
	flag := func(names ...string) (int, bool) {
		for i, w := range f {
			for _, n := range names {
				if v, ok := strings.CutPrefix(w, n+"="); ok {
					x, err := strconv.Atoi(v)
					return x, err == nil
				}
				if w == n && i+1 < len(f) {
					x, err := strconv.Atoi(f[i+1])
					return x, err == nil
				}
			}
		}
		return 0, false
	}
	switch {
	case strings.Contains(p.Cmdline, "uvicorn"):
		if n, ok := flag("--timeout-keep-alive"); ok {
			return time.Duration(n) * time.Second, "uvicorn --timeout-keep-alive " + strconv.Itoa(n)
		}
		return 5 * time.Second, "uvicorn's default --timeout-keep-alive 5"
	case strings.Contains(p.Cmdline, "gunicorn"):
		if n, ok := flag("--keep-alive"); ok {
			return time.Duration(n) * time.Second, "gunicorn --keep-alive " + strconv.Itoa(n)
		}
		return 2 * time.Second, "gunicorn's default --keep-alive 2"
	}
	return 0, ""
}

// keepaliveChecks compare the backend's idle timeout with the proxy's.
func (j *judgement) keepaliveChecks() {
	f := j.f
	multi := len(f.proxy.Upstreams) > 1
	for _, u := range f.proxy.Upstreams {
		cid := "keepalive"
		if multi {
			cid += "." + u.Name
		}
		r, measured := f.idle[u.Name]
		if !measured {
			j.add(Check{ID: cid, Status: StatusSkip, Summary: fmt.Sprintf("%s keeps no idle connections to upstream %s (no keepalive): no reuse race", f.proxy.Kind, u.Name)})
			continue
		}
		c := Check{ID: cid}
		proxyT := u.KeepaliveTimeout
		switch {
		case r.Err != nil:
			c.Status, c.Summary, c.Evidence = StatusSkip, "could not measure the backend's idle timeout", shortErr(r.Err)
		case r.NoKeepalive:
			c.Status, c.Summary = StatusOK, fmt.Sprintf("%s answers with Connection: close: nothing is reused", r.Spec.Addr)
		case r.Closed:
			c.Evidence = fmt.Sprintf("%s closed an idle keepalive connection after %s", r.Spec.Addr, roundDur(r.After))
			if proxyT > 0 && r.After < proxyT {
				c.Status = StatusFail
				c.Summary = fmt.Sprintf("backend closes idle connections after %s, the %s keeps them %s", roundDur(r.After), f.proxy.Kind, proxyT)
				c.Fix = keepaliveFix(f.proxy, u, r.After)
			} else {
				c.Status, c.Summary = StatusOK, c.Evidence
			}
		default:
			c.Evidence = fmt.Sprintf("%s kept an idle keepalive connection open for %s (as long as it was watched)", r.Spec.Addr, roundDur(r.Waited))
			if proxyT > r.Waited {
				c.Hint = HintKeepaliveWait // it may still close before the proxy gives up
			}
			if r.Advertised > 0 {
				c.Evidence += fmt.Sprintf("; it advertises Keep-Alive: timeout=%d", int(r.Advertised.Seconds()))
			}
			c.Status, c.Summary = StatusOK, fmt.Sprintf("backend keeps idle connections open ≥ %s", roundDur(r.Waited))
			known, why := r.Advertised, "Keep-Alive: timeout header"
			if known == 0 {
				known, why = knownIdleTimeout(j.ownerOf(r.Spec.Addr))
			}
			if known > 0 && proxyT > 0 && known < proxyT && f.proxy.Kind != "" {
				c.Status = StatusWarn
				c.Summary = fmt.Sprintf("backend closes idle connections after %s (%s), the %s keeps them %s", known, why, f.proxy.Kind, proxyT)
				c.Fix = keepaliveFix(f.proxy, u, known)
			}
		}
		j.add(c)
	}
}

// keepaliveFix tells how to make the proxy give up idle connections first.
func keepaliveFix(p *Proxy, u *Upstream, backend time.Duration) string {
	target := max(backend/2, time.Second)
	if backend <= time.Second {
		target = max(backend/2, 100*time.Millisecond)
	}
	switch p.Kind {
	case "nginx":
		return fmt.Sprintf("set `keepalive_timeout %dms;` in upstream %s (%s), below the backend's %s, or raise the backend's idle timeout above %s (uvicorn --timeout-keep-alive, gunicorn --keep-alive)", target.Milliseconds(), u.Name, u.Where, backend, u.KeepaliveTimeout)
	case "agent":
		return fmt.Sprintf("set keepalive_timeout: %s in upstream %s of %s, below the backend's %s, or raise the backend's idle timeout above %s", target, u.Name, p.Source, backend, u.KeepaliveTimeout)
	}
	return fmt.Sprintf("keep idle connections to the backend for less than %s, or raise the backend's idle timeout", backend)
}
