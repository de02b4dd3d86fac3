// Command fdapp is the e2e tests' stand-in for a socket-activated app
// (uvicorn --fd 3): it serves on the listening socket systemd hands it as
// fd 3 (LISTEN_FDS=1 for this process), or on -listen without one, and
// tells on /whoami who runs it, from where, with what environment.
package main

import (
	"encoding/json"
	"flag"
	"log"
	"net"
	"net/http"
	"os"
	"os/user"
	"strconv"
)

func main() {
	listen := flag.String("listen", "[::]:8000", "address to listen on without an inherited socket")
	fd := flag.Int("fd", 3, "the inherited listening socket (with LISTEN_FDS=1)")
	flag.Parse()
	ln, err := listener(*fd, *listen)
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/health", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"healthy"}` + "\n"))
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		cwd, _ := os.Getwd()
		name := ""
		if u, err := user.LookupId(strconv.Itoa(os.Getuid())); err == nil {
			name = u.Username
		}
		// A file of the working directory, read by a relative path, as an
		// app imports its modules from there.
		local, err := os.ReadFile("greeting.txt")
		if err != nil {
			local = []byte("(" + err.Error() + ")")
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{
			"user": name, "cwd": cwd, "local_file": string(local),
			"greeting":   os.Getenv("GREETING"),  // from env_file
			"log_level":  os.Getenv("LOG_LEVEL"), // from environment:
			"listen_fds": os.Getenv("LISTEN_FDS"),
			"local_addr": r.Context().Value(http.LocalAddrContextKey).(net.Addr).String(),
		})
	})
	log.Fatal(http.Serve(ln, mux))
}

// listener is fd when systemd passed one socket to this process, else a
// new socket on addr.
func listener(fd int, addr string) (net.Listener, error) {
	if os.Getenv("LISTEN_FDS") == "1" && os.Getenv("LISTEN_PID") == strconv.Itoa(os.Getpid()) {
		return net.FileListener(os.NewFile(uintptr(fd), "listen-fd"))
	}
	return net.Listen("tcp", addr)
}
