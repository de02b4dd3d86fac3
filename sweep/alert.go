package sweep

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Alert statuses.
const (
	AlertDown      = "down"
	AlertRecovered = "recovered"
)

// Alert is a host+family changing state; its JSON is the webhook's body.
// Text is a one-line message, so a Slack (or Mattermost, Rocket.Chat)
// incoming webhook shows it as is.
type Alert struct {
	Host    string    `json:"host"`
	Family  string    `json:"family"`
	Address string    `json:"address"`
	Status  string    `json:"status"` // down | recovered
	Error   string    `json:"error"`
	Time    time.Time `json:"time"`
	Text    string    `json:"text"`
}

func newAlert(host, family, addr, status, errText string, now time.Time, count int) *Alert {
	a := &Alert{Host: host, Family: family, Address: addr, Status: status, Error: errText, Time: now.UTC()}
	fam := map[string]string{"ipv4": "IPv4", "ipv6": "IPv6"}[family]
	if status == AlertDown {
		a.Text = fmt.Sprintf("edgectl sweep: %s %s %s is DOWN after %s: %s", host, fam, addr, plural(count, "failed sweep", "failed sweeps"), errText)
	} else {
		a.Text = fmt.Sprintf("edgectl sweep: %s %s %s recovered after %s", host, fam, addr, plural(count, "passing sweep", "passing sweeps"))
	}
	return a
}

// Webhook posts alerts as JSON. The URL is a secret (Slack's carry the
// token): no error it returns contains it.
type Webhook struct {
	URL string
	// Client sends the requests (default: a client with Timeout).
	Client *http.Client
	// Timeout bounds one attempt (default 5s).
	Timeout time.Duration
	// Attempts is how often one alert is tried (default 3).
	Attempts int
	// Backoff is the wait before the second attempt, doubled after each
	// (default 1s).
	Backoff time.Duration
}

// Send posts a, retrying on network errors and 5xx/429 answers.
func (w *Webhook) Send(ctx context.Context, a Alert) error {
	timeout, attempts, backoff := w.Timeout, w.Attempts, w.Backoff
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	if attempts <= 0 {
		attempts = 3
	}
	if backoff <= 0 {
		backoff = time.Second
	}
	client := w.Client
	if client == nil {
		client = &http.Client{Timeout: timeout}
	}
	body, err := json.Marshal(a)
	if err != nil {
		return err
	}
	var last error
	for i := range attempts {
		if i > 0 {
			select {
			case <-time.After(backoff):
				backoff *= 2
			case <-ctx.Done():
				return fmt.Errorf("alert webhook: %w (after %d attempts; last: %v)", ctx.Err(), i, last)
			}
		}
		retry, err := w.post(ctx, client, timeout, body)
		if err == nil {
			return nil
		}
		last = err
		if !retry {
			break
		}
	}
	return fmt.Errorf("alert webhook: %w", last)
}

func (w *Webhook) post(ctx context.Context, client *http.Client, timeout time.Duration, body []byte) (retry bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(body))
	if err != nil {
		return false, errors.New("the URL is invalid") // its text would repeat the URL
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "edgectl-sweep")
	resp, err := client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // url.Error's text holds the URL
		}
		return true, err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return false, nil
	}
	err = fmt.Errorf("answered HTTP %d %s", resp.StatusCode, strings.TrimSpace(string(msg)))
	return resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests, err
}
