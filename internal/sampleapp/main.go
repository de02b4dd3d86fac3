// Command sampleapp is the stand-in API backend used by the demo and the
// benchmark: it answers /health with JSON and every other path with a line
// naming the address that served it, so failover is visible.
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8000", "address to listen on (\"[::]:8000\" is dual-stack)")
	flag.Parse()
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/health", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"healthy"}` + "\n"))
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "ok from %s\n", r.Context().Value(http.LocalAddrContextKey))
	})
	log.Fatal(http.Serve(ln, mux))
}
