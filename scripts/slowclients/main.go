// Command slowclients holds many connections to an HTTP server that send
// their request heads (or bodies) a byte at a time, reopening each one the
// server closes, for a while: the slow-client load of scripts/bench.sh.
//
//	go run ./scripts/slowclients -addr 127.0.0.1:18901 -n 2000 -for 20s
//
// It prints how many connections it opened and how many the server
// closed. Loopback and test addresses only: it is a load generator.
package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:18901", "server address")
	n := flag.Int("n", 2000, "connections held at once")
	dur := flag.Duration("for", 20*time.Second, "how long")
	every := flag.Duration("every", time.Second, "one byte per connection this often")
	body := flag.Bool("body", false, "send a whole head and trickle the body instead")
	flag.Parse()

	var opened, closed atomic.Int64
	deadline := time.Now().Add(*dur)
	var wg sync.WaitGroup
	for i := 0; i < *n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				c, err := net.DialTimeout("tcp", *addr, 2*time.Second)
				if err != nil {
					time.Sleep(100 * time.Millisecond)
					continue
				}
				opened.Add(1)
				head := "GET /slow HTTP/1.1\r\nHost: bench\r\nX-Slow: "
				if *body {
					_, _ = io.WriteString(c, "POST /slow HTTP/1.1\r\nHost: bench\r\nContent-Length: 100000\r\n\r\n")
					head = ""
				} else {
					_, _ = io.WriteString(c, head)
				}
				for time.Now().Before(deadline) {
					time.Sleep(*every)
					if _, err := c.Write([]byte("a")); err != nil {
						closed.Add(1)
						break
					}
				}
				_ = c.Close()
			}
		}()
		if i%100 == 99 {
			time.Sleep(10 * time.Millisecond) // do not flood the accept queue at once
		}
	}
	wg.Wait()
	fmt.Fprintf(os.Stdout, "slowclients: %d connections opened, %d closed by the server\n", opened.Load(), closed.Load())
}
