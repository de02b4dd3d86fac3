package proxy

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/websocket"
)

func TestSSEEventsArriveOneByOne(t *testing.T) {
	const gap = 400 * time.Millisecond
	sse := startBackend(t, "127.0.0.1:0", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for i := range 3 {
			fmt.Fprintf(w, "data: event %d\n\n", i)
			w.(http.Flusher).Flush()
			time.Sleep(gap)
		}
	})
	p := startProxy(t, pool([]string{sse.addr}, ""))
	start := time.Now()
	resp, err := client().Get(p.url("/stream"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	line, err := br.ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	first := time.Since(start)
	if line != "data: event 0\n" {
		t.Fatalf("first line %q", line)
	}
	if first > gap/2 {
		t.Fatalf("first event after %s: buffered until the stream went on (gap %s)", first, gap)
	}
	rest, _ := io.ReadAll(br)
	if !strings.Contains(string(rest), "data: event 2") {
		t.Fatalf("rest of the stream: %q", rest)
	}
	t.Logf("first event after %s, stream ended after %s", first.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
}

func TestWebSocketEcho(t *testing.T) {
	ws := startBackend(t, "[::1]:0", websocket.Handler(func(c *websocket.Conn) {
		for {
			var m string
			if websocket.Message.Receive(c, &m) != nil || websocket.Message.Send(c, m) != nil {
				return
			}
		}
	}).ServeHTTP)
	p := startProxy(t, pool([]string{ws.addr}, ""))
	conn, err := websocket.Dial("ws://"+p.addr+"/ws", "", "http://"+p.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, msg := range []string{"hello", strings.Repeat("x", 100_000), "bye"} {
		if err := websocket.Message.Send(conn, msg); err != nil {
			t.Fatal(err)
		}
		var got string
		_ = conn.SetReadDeadline(time.Now().Add(3 * time.Second))
		if err := websocket.Message.Receive(conn, &got); err != nil {
			t.Fatal(err)
		}
		if got != msg {
			t.Fatalf("echo of %d bytes came back as %d bytes", len(msg), len(got))
		}
	}
}

func sumBody(w http.ResponseWriter, r *http.Request) {
	h := sha256.New()
	n, _ := io.Copy(h, r.Body)
	fmt.Fprintf(w, "%d %s te=%v", n, hex.EncodeToString(h.Sum(nil)), r.TransferEncoding)
}

func TestRequestBodies(t *testing.T) {
	b := startBackend(t, "127.0.0.1:0", sumBody)
	p := startProxy(t, pool([]string{b.addr}, ""))
	c := client()
	for _, tc := range []struct {
		name    string
		size    int
		chunked bool
	}{
		{"small buffered", 1000, false},
		{"just over the buffer", maxBufferedBody + 1, false},
		{"large streamed", 3 << 20, false},
		{"chunked", 1 << 20, true},
		{"empty chunked", 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := strings.Repeat("abcdefgh", tc.size/8+1)[:tc.size]
			var body io.Reader = strings.NewReader(data)
			if tc.chunked {
				body = io.MultiReader(body) // unknown length: Go sends chunked
			}
			req, _ := http.NewRequest("POST", p.url("/upload"), body)
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			sum := sha256.Sum256([]byte(data))
			want := fmt.Sprintf("%d %s", tc.size, hex.EncodeToString(sum[:]))
			if resp.StatusCode != 200 || !strings.HasPrefix(string(got), want) {
				t.Fatalf("got %d %q, want %q", resp.StatusCode, got, want)
			}
			if tc.chunked && tc.size > 0 && !strings.Contains(string(got), "chunked") {
				t.Fatalf("backend did not see a chunked body: %q", got)
			}
		})
	}
}

func TestResponseFraming(t *testing.T) {
	b := startBackend(t, "127.0.0.1:0", func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/chunked":
			for i := range 5 {
				fmt.Fprintf(w, "part%d;", i)
				w.(http.Flusher).Flush()
			}
		case "/empty":
			w.WriteHeader(204)
		case "/length":
			w.Header().Set("Content-Length", "5")
			io.WriteString(w, "12345")
		}
	})
	// A backend that ends its body by closing the connection.
	eof, _ := rawServer(t, "127.0.0.1:0", func(c net.Conn) {
		_, _ = readRequest(bufio.NewReader(c))
		io.WriteString(c, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil-eof")
	})
	p := startProxy(t, fmt.Sprintf(`access_log: "off"
admin: ""
upstreams:
  a: {servers: [{addr: %q}]}
  b: {servers: [{addr: %q}]}
routes:
  - {path: /eof, upstream: b}
  - {path: /, upstream: a}
`, b.addr, eof))
	for _, tc := range []struct {
		path, want string
		http10     bool
	}{
		{"/chunked", "part0;part1;part2;part3;part4;", false},
		{"/chunked", "part0;part1;part2;part3;part4;", true},
		{"/length", "12345", false},
		{"/length", "12345", true},
		{"/empty", "", false},
		{"/eof", "until-eof", false},
		{"/eof", "until-eof", true},
	} {
		t.Run(fmt.Sprintf("%s http1.0=%v", tc.path, tc.http10), func(t *testing.T) {
			c, err := net.Dial("tcp", p.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			proto := "HTTP/1.1"
			if tc.http10 {
				proto = "HTTP/1.0"
			}
			fmt.Fprintf(c, "GET %s %s\r\nHost: x\r\n\r\n", tc.path, proto)
			_ = c.SetDeadline(time.Now().Add(3 * time.Second))
			br := bufio.NewReader(c)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			if string(body) != tc.want {
				t.Fatalf("body %q, want %q", body, tc.want)
			}
			if !tc.http10 {
				// The connection must still be usable for a second request.
				fmt.Fprintf(c, "GET /length HTTP/1.1\r\nHost: x\r\n\r\n")
				resp2, err := http.ReadResponse(br, nil)
				if err != nil {
					t.Fatalf("second request on the same connection: %v", err)
				}
				b2, _ := io.ReadAll(resp2.Body)
				if string(b2) != "12345" {
					t.Fatalf("second body %q", b2)
				}
			}
		})
	}
}
