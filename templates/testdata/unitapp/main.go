// Command unitapp is the backend the backend-unit tests start under real
// systemd: it serves on the socket systemd hands it as fd 3 (LISTEN_FDS=1)
// or on -listen, and tells what the unit gave it.
//
//	GET /        {"cwd","uid","user","pid","env":{NAME: value}} for the names in -env
//	GET /write?path=P  creates P: 200 "ok", or 500 with the error
package main

import (
	"encoding/json"
	"flag"
	"net"
	"net/http"
	"os"
	"os/signal"
	"os/user"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	listen := flag.String("listen", "", "address to listen on when systemd passes no socket")
	envNames := flag.String("env", "", "comma-separated environment variables to report")
	flag.Parse()
	var ln net.Listener
	var err error
	if os.Getenv("LISTEN_FDS") == "1" && os.Getenv("LISTEN_PID") == strconv.Itoa(os.Getpid()) {
		ln, err = net.FileListener(os.NewFile(3, "systemd socket"))
	} else {
		ln, err = net.Listen("tcp", *listen)
	}
	if err != nil {
		panic(err)
	}
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		cwd, _ := os.Getwd()
		name := ""
		if u, err := user.LookupId(strconv.Itoa(os.Getuid())); err == nil {
			name = u.Username
		}
		env := map[string]string{}
		for _, n := range strings.Split(*envNames, ",") {
			if v, ok := os.LookupEnv(n); ok {
				env[n] = v
			}
		}
		json.NewEncoder(w).Encode(map[string]any{"cwd": cwd, "uid": os.Getuid(), "user": name, "pid": os.Getpid(), "env": env})
	})
	http.HandleFunc("/write", func(w http.ResponseWriter, r *http.Request) {
		if err := os.WriteFile(r.URL.Query().Get("path"), []byte("x"), 0o644); err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		w.Write([]byte("ok"))
	})
	// On SIGTERM stop accepting and finish every connection accepted, its
	// request included. Connections not yet accepted stay in the socket's
	// backlog for the next process when systemd owns the socket.
	// (http.Server.Shutdown is not used: it drops a request it reads after
	// shutdown began, even the first one of a new connection.)
	var open atomic.Int64
	srv := &http.Server{ConnState: func(c net.Conn, st http.ConnState) {
		switch st {
		case http.StateNew:
			open.Add(1)
		case http.StateClosed, http.StateHijacked:
			open.Add(-1)
		}
	}}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM)
	served := make(chan struct{})
	go func() {
		srv.Serve(ln)
		close(served)
	}()
	<-stop
	srv.SetKeepAlivesEnabled(false) // close idle connections, and others after their response
	ln.Close()
	<-served
	for deadline := time.Now().Add(5 * time.Second); open.Load() > 0 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
}
