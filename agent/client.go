package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// Client talks to a running agent through its admin socket: what
// `edgectl agent status|reload|upgrade|drain` and deploy (which runs those
// commands on a host over SSH) use.
type Client struct {
	// Socket is the admin socket path (agent.yaml admin:).
	Socket string
	hc     *http.Client
}

// NewClient returns a client for the admin socket at path.
func NewClient(path string) *Client {
	return NewClientDial(path, func(ctx context.Context) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", path)
	})
}

// NewClientDial returns a client for the admin socket at path reached
// through dial (deploy reaches a host's socket over its SSH connection).
func NewClientDial(path string, dial func(ctx context.Context) (net.Conn, error)) *Client {
	return &Client{Socket: path, hc: &http.Client{
		Timeout: 2 * time.Minute, // an upgrade waits for the successor's readiness
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return dial(ctx)
		}},
	}}
}

// CloseIdle closes the client's idle connections.
func (c *Client) CloseIdle() { c.hc.CloseIdleConnections() }

// Status returns GET /status.
func (c *Client) Status(ctx context.Context) (*Status, error) {
	var st Status
	if err := c.do(ctx, http.MethodGet, "/status", &st); err != nil {
		return nil, err
	}
	return &st, nil
}

// Reload asks the agent to read its config again; a rejected config is an
// error carrying the agent's message (file:line:col).
func (c *Client) Reload(ctx context.Context) error {
	return c.do(ctx, http.MethodPost, "/reload", nil)
}

// Upgrade asks the agent to hand its sockets to a new process running the
// binary now on disk; it returns once the new process is ready.
func (c *Client) Upgrade(ctx context.Context) error {
	return c.do(ctx, http.MethodPost, "/upgrade", nil)
}

// Drain turns the health path to 503 (on) or back to 200 (off) without
// stopping the agent.
func (c *Client) Drain(ctx context.Context, on bool) error {
	m := http.MethodPost
	if !on {
		m = http.MethodDelete
	}
	return c.do(ctx, m, "/drain", nil)
}

// Pause holds new requests to upstreams (see PauseRequest).
func (c *Client) Pause(ctx context.Context, r PauseRequest) (*HoldAnswer, error) {
	var a HoldAnswer
	if err := c.doJSON(ctx, http.MethodPost, "/pause", r, &a); err != nil {
		return nil, err
	}
	return &a, nil
}

// Resume releases held requests, now or at the first passing health
// check (see ResumeRequest).
func (c *Client) Resume(ctx context.Context, r ResumeRequest) (*HoldAnswer, error) {
	var a HoldAnswer
	if wait := time.Duration(r.WaitMS)*time.Millisecond + 30*time.Second; wait > c.hc.Timeout {
		hc := *c.hc
		hc.Timeout = wait
		c = &Client{Socket: c.Socket, hc: &hc}
	}
	if err := c.doJSON(ctx, http.MethodPost, "/resume", r, &a); err != nil {
		return nil, err
	}
	return &a, nil
}

func (c *Client) do(ctx context.Context, method, path string, out any) error {
	return c.doJSON(ctx, method, path, nil, out)
}

// doJSON sends in (when not nil) as the JSON body and decodes the answer
// into out. A request that waits (POST /resume with wait_ms) may take
// longer than the client's own timeout: ctx bounds it then.
func (c *Client) doJSON(ctx context.Context, method, path string, in, out any) error {
	var reqBody io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		reqBody = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://agent"+path, reqBody)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("agent admin socket %s: %w (is the agent running?)", c.Socket, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		var e struct{ Error string }
		if json.Unmarshal(body, &e) == nil && e.Error != "" {
			return fmt.Errorf("%s %s: %s", strings.ToLower(method), path[1:], e.Error)
		}
		return fmt.Errorf("%s %s: %s", strings.ToLower(method), path[1:], resp.Status)
	}
	if out != nil {
		return json.Unmarshal(body, out)
	}
	return nil
}
