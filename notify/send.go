package notify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// sender posts JSON with bounded retries on behalf of one notifier, and
// keeps the notifier's secrets out of every error.
type sender struct {
	name     string
	client   *http.Client
	timeout  time.Duration
	attempts int
	backoff  time.Duration
	now      func() time.Time
	secrets  []string
}

func newSender(name string, o Options, secrets ...string) *sender {
	s := &sender{name: name, client: o.Client, timeout: o.Timeout, attempts: o.Attempts, backoff: o.Backoff, now: o.Now}
	if s.timeout <= 0 {
		s.timeout = 5 * time.Second
	}
	if s.attempts <= 0 {
		s.attempts = 3
	}
	if s.backoff <= 0 {
		s.backoff = time.Second
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.client == nil {
		s.client = &http.Client{Timeout: s.timeout}
	}
	for _, v := range secrets {
		if v == "" {
			continue
		}
		s.secrets = append(s.secrets, v)
		// A URL's parts can show up on their own (a path, a query value).
		if u, err := url.Parse(v); err == nil && u.Host != "" {
			if len(u.Path) > 1 {
				s.secrets = append(s.secrets, u.Path, u.EscapedPath())
			}
			if u.RawQuery != "" {
				s.secrets = append(s.secrets, u.RawQuery)
				for _, vals := range u.Query() {
					s.secrets = append(s.secrets, vals...)
				}
			}
		}
	}
	return s
}

// Name is the notifier's name.
func (s *sender) Name() string { return s.name }

// judge reads an answer: nil when delivered, else the error and whether
// another attempt may succeed.
type judge func(status int, body []byte) (retry bool, err error)

// byStatus accepts any 2xx answer; 5xx and 429 are retried.
func byStatus(status int, body []byte) (bool, error) {
	if status >= 200 && status < 300 {
		return false, nil
	}
	return status >= 500 || status == http.StatusTooManyRequests, fmt.Errorf("answered HTTP %d %s", status, snippet(body))
}

// post sends body to u, attempt after attempt, until judge accepts the
// answer, says it is final, or the attempts run out.
func (s *sender) post(ctx context.Context, u string, body []byte, ok judge) error {
	backoff := s.backoff
	var last error
	for i := range s.attempts {
		if i > 0 {
			t := time.NewTimer(backoff)
			select {
			case <-t.C:
				backoff *= 2
			case <-ctx.Done():
				t.Stop()
				return s.fail(fmt.Errorf("%w after %d attempts; last: %v", ctx.Err(), i, last))
			}
		}
		retry, err := s.once(ctx, u, body, ok)
		if err == nil {
			return nil
		}
		last = err
		if !retry {
			return s.fail(err)
		}
	}
	return s.fail(fmt.Errorf("%v (%d attempts)", last, s.attempts))
}

func (s *sender) once(ctx context.Context, u string, body []byte, ok judge) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return false, errors.New("the URL is invalid") // its text would repeat the URL
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("User-Agent", "edgectl")
	resp, err := s.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // url.Error's text holds the URL
		}
		return true, err
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return ok(resp.StatusCode, answer)
}

// fail words a delivery error with the notifier's name and without its
// secrets.
func (s *sender) fail(err error) error {
	return fmt.Errorf("alert %s: %s", s.name, s.redact(err.Error()))
}

func (s *sender) redact(msg string) string {
	for _, v := range s.secrets {
		if len(v) >= 4 {
			msg = strings.ReplaceAll(msg, v, "[redacted]")
		}
	}
	return msg
}

// snippet is the start of an answer's body, on one line.
func snippet(b []byte) string {
	s := strings.Join(strings.Fields(string(b)), " ")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}
