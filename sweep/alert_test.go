package sweep

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestWebhookRetriesThenDelivers(t *testing.T) {
	var calls atomic.Int32
	var got Alert
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) < 3 {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		body, _ := io.ReadAll(r.Body)
		if r.Header.Get("Content-Type") != "application/json" || json.Unmarshal(body, &got) != nil {
			http.Error(w, "bad body", 400)
		}
	}))
	defer srv.Close()
	a := *newAlert("edge-2", "ipv6", "[fd00:e:d9e::12]:443", AlertDown, "no answer within 5s", time.Now(), 3)
	wh := &Webhook{URL: srv.URL + "/hooks/T000/SECRET", Backoff: 10 * time.Millisecond}
	if err := wh.Send(t.Context(), a); err != nil {
		t.Fatal(err)
	}
	if calls.Load() != 3 || got.Host != "edge-2" || got.Status != AlertDown || !strings.HasPrefix(got.Text, "edgectl sweep: edge-2 IPv6") {
		t.Fatalf("calls %d, got %+v", calls.Load(), got)
	}
}

func TestWebhookErrorsHideTheURL(t *testing.T) {
	// A port that refuses: take one and close it.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no such hook", http.StatusNotFound)
	}))
	defer srv.Close()
	for _, tc := range []struct {
		name, url string
	}{
		{"refused", "http://" + addr + "/hooks/SECRET"},
		{"404", srv.URL + "/hooks/SECRET"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wh := &Webhook{URL: tc.url, Backoff: time.Millisecond}
			err := wh.Send(t.Context(), Alert{Host: "edge-1"})
			if err == nil || strings.Contains(err.Error(), "SECRET") || !strings.HasPrefix(err.Error(), "alert webhook: ") {
				t.Fatalf("err %v", err)
			}
		})
	}
}
