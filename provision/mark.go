package provision

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/edgectl/edgectl/hostlock"
	"github.com/edgectl/edgectl/remote"
)

// markAgent tells the running agent, through its admin socket (a unix
// socket reached over the SSH connection), that a deploy is changing the
// host (on) or is done (off). Its health answer then says "deploy" with
// how long the deploy has run and may run, so a sweep reports the host as
// deploying rather than down. It is best effort: an agent too old to know
// the mark, or an sshd that forbids socket forwarding, only loses that.
func markAgent(ctx context.Context, h remote.Host, admin string, holder hostlock.Holder, on bool) error {
	if admin == "" {
		return nil
	}
	c := &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) { return h.DialContext(ctx, "unix", admin) },
	}}
	defer c.CloseIdleConnections()
	method, body := http.MethodDelete, []byte(nil)
	if on {
		method = http.MethodPost
		body, _ = json.Marshal(map[string]any{"holder": holder.Who(), "command": holder.Command, "max_ms": holder.MaxMS})
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://agent/deploy", bytes.NewReader(body))
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("%s /deploy: %s", method, resp.Status)
	}
	return nil
}
