package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/edgectl/edgectl/proxy"
)

// Pause and resume on the admin socket: POST /pause holds new requests to
// upstreams (a backend restart then fails none), POST /resume releases
// them. The gate itself is proxy's (proxy/hold.go).

// MaxHoldTimeout bounds a pause's timeout_ms: longer than any client waits.
const MaxHoldTimeout = 10 * time.Minute

// PauseRequest is the body of POST /pause.
type PauseRequest struct {
	// Upstreams to pause; empty pauses every upstream.
	Upstreams []string `json:"upstreams,omitempty"`
	// TimeoutMS ends the pause by itself; requests still held then get
	// 503 (default 30000, at most 600000).
	TimeoutMS int64 `json:"timeout_ms,omitempty"`
	// MaxHeld caps the requests held per upstream; more get 503 (default
	// proxy.DefaultMaxHeld).
	MaxHeld int `json:"max_held,omitempty"`
	// ResumeWhenHealthy resumes at the first passing health check after
	// one failed (the backend went away and came back).
	ResumeWhenHealthy bool `json:"resume_when_healthy,omitempty"`
	// WaitIdleMS makes the answer wait, up to this long, until no request
	// is in flight to the paused upstreams, so the backend may stop
	// without cutting one; the answer's inflight says what is left.
	WaitIdleMS int64 `json:"wait_idle_ms,omitempty"`
}

// ResumeRequest is the body of POST /resume.
type ResumeRequest struct {
	// Upstreams to resume; empty resumes every paused upstream.
	Upstreams []string `json:"upstreams,omitempty"`
	// WhenHealthy leaves each pause until its upstream's first passing
	// health check (checked every 100 ms), bounded by its timeout.
	WhenHealthy bool `json:"when_healthy,omitempty"`
	// WaitMS makes the answer wait, up to this long, until the pauses
	// ended; their records are in pauses.
	WaitMS int64 `json:"wait_ms,omitempty"`
}

// HoldAnswer is the answer of POST /pause and POST /resume.
type HoldAnswer struct {
	// Status is paused, resumed or resuming (when_healthy without a
	// wait, or a wait that ran out); rejected with Error on a bad request.
	// Upstreams are those paused (by /pause) or that were paused (/resume:
	// none when nothing was).
	Status    string         `json:"status"`
	Error     string         `json:"error,omitempty"`
	Upstreams []UpstreamHold `json:"upstreams"`
	// Inflight is what POST /pause with wait_idle_ms left in flight.
	Inflight *int64 `json:"inflight,omitempty"`
	// Pauses are the pauses that ended, after a wait.
	Pauses []proxy.PauseRecord `json:"pauses"`
}

// UpstreamHold is one upstream's hold state in a HoldAnswer.
type UpstreamHold struct {
	Name string            `json:"name"`
	Hold *proxy.HoldStatus `json:"hold,omitempty"`
}

// holds is the hold state of the named upstreams (all when empty).
func (a *Agent) holds(names []string) []UpstreamHold {
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	out := []UpstreamHold{}
	for _, u := range holdsOf(a.handler.Table().Status(time.Now())) {
		if len(want) == 0 || want[u.Name] {
			out = append(out, u)
		}
	}
	return out
}

func holdsOf(ss []proxy.UpstreamStatus) []UpstreamHold {
	out := make([]UpstreamHold, 0, len(ss))
	for _, s := range ss {
		out = append(out, UpstreamHold{Name: s.Name, Hold: s.Hold})
	}
	return out
}

// decodeHold reads a request body (an empty one is all defaults).
func decodeHold(r *http.Request, v any) error {
	err := json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(v)
	if errors.Is(err, io.EOF) {
		return nil
	}
	return err
}

func (a *Agent) holdRoutes(mux *http.ServeMux) {
	reject := func(w http.ResponseWriter, err error) {
		code := http.StatusBadRequest
		if errors.Is(err, proxy.ErrUnknownUpstream) {
			code = http.StatusNotFound
		}
		writeJSON(w, code, HoldAnswer{Status: "rejected", Error: err.Error(), Upstreams: []UpstreamHold{}, Pauses: []proxy.PauseRecord{}})
	}
	mux.HandleFunc("POST /pause", func(w http.ResponseWriter, r *http.Request) {
		var req PauseRequest
		if err := decodeHold(r, &req); err != nil {
			reject(w, fmt.Errorf("want JSON with upstreams, timeout_ms, max_held, resume_when_healthy, wait_idle_ms: %w", err))
			return
		}
		timeout := time.Duration(req.TimeoutMS) * time.Millisecond
		if req.TimeoutMS == 0 {
			timeout = proxy.DefaultHoldTimeout
		}
		if req.TimeoutMS < 0 || timeout > MaxHoldTimeout || req.MaxHeld < 0 || req.WaitIdleMS < 0 {
			reject(w, fmt.Errorf("timeout_ms must be 0 (30s) to %d, max_held and wait_idle_ms not negative", MaxHoldTimeout.Milliseconds()))
			return
		}
		st, err := a.handler.Pause(req.Upstreams, proxy.HoldOptions{Timeout: timeout, MaxHeld: req.MaxHeld, ResumeWhenHealthy: req.ResumeWhenHealthy})
		if err != nil {
			reject(w, err)
			return
		}
		ans := HoldAnswer{Status: "paused", Upstreams: holdsOf(st), Pauses: []proxy.PauseRecord{}}
		for _, u := range ans.Upstreams {
			a.Log.Info("upstream paused: holding new requests", "upstream", u.Name, "timeout", timeout, "resume_when_healthy", req.ResumeWhenHealthy)
		}
		if req.WaitIdleMS > 0 {
			ctx, cancel := context.WithTimeout(r.Context(), time.Duration(req.WaitIdleMS)*time.Millisecond)
			n, _ := a.handler.WaitIdle(ctx, req.Upstreams)
			cancel()
			ans.Inflight = &n
		}
		writeJSON(w, 200, ans)
	})
	mux.HandleFunc("POST /resume", func(w http.ResponseWriter, r *http.Request) {
		var req ResumeRequest
		if err := decodeHold(r, &req); err != nil {
			reject(w, fmt.Errorf("want JSON with upstreams, when_healthy, wait_ms: %w", err))
			return
		}
		if req.WaitMS < 0 {
			reject(w, errors.New("wait_ms must not be negative"))
			return
		}
		st, err := a.handler.Resume(req.Upstreams, req.WhenHealthy)
		if err != nil {
			reject(w, err)
			return
		}
		ans := HoldAnswer{Status: "resumed", Upstreams: holdsOf(st), Pauses: []proxy.PauseRecord{}}
		if req.WhenHealthy {
			ans.Status = "resuming"
		}
		if req.WaitMS > 0 && len(st) > 0 {
			names := make([]string, 0, len(st))
			for _, u := range st {
				names = append(names, u.Name)
			}
			ctx, cancel := context.WithTimeout(r.Context(), time.Duration(req.WaitMS)*time.Millisecond)
			recs, err := a.handler.WaitResumed(ctx, names)
			cancel()
			ans.Pauses = append(ans.Pauses, recs...)
			if err == nil {
				ans.Status = "resumed"
			}
			ans.Upstreams = a.holds(names)
		}
		writeJSON(w, 200, ans)
	})
}

// logHoldEnd logs a pause that ended: how, for how long, and what
// happened to the requests it held.
func (a *Agent) logHoldEnd(r proxy.PauseRecord) {
	level := a.Log.Info
	if r.Ended == proxy.EndExpired || r.Rejected > 0 {
		level = a.Log.Warn
	}
	level("upstream resumed", "upstream", r.Upstream, "ended", r.Ended, "held_ms", r.DurationMS,
		"held", r.Held, "released", r.Released, "rejected", r.Rejected, "client_gone", r.ClientGone)
}
