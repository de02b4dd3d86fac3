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
	"os/user"
	"strconv"
	"strings"
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
	panic(http.Serve(ln, nil))
}
