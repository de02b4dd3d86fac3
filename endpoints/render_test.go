package endpoints

import (
	"reflect"
	"strings"
	"testing"
)

func TestRender(t *testing.T) {
	list := &List{Domains: []string{"api.example.com", "b.example"}, IPs: addrs("192.0.2.1", "2001:db8::7")}
	tests := []struct {
		name    string
		opts    Options
		api     []string
		sockets []string
	}{
		{
			name:    "defaults",
			api:     []string{"https://api.example.com/api/v1", "https://b.example/api/v1", "https://192.0.2.1/api/v1", "https://[2001:db8::7]/api/v1"},
			sockets: []string{"https://api.example.com", "https://b.example", "https://192.0.2.1", "https://[2001:db8::7]"},
		},
		{
			name:    "port only",
			opts:    Options{DefaultPort: 8443},
			api:     []string{"https://api.example.com:8443/api/v1", "https://b.example:8443/api/v1", "https://192.0.2.1:8443/api/v1", "https://[2001:db8::7]:8443/api/v1"},
			sockets: []string{"https://api.example.com:8443", "https://b.example:8443", "https://192.0.2.1:8443", "https://[2001:db8::7]:8443"},
		},
		{
			name:    "socket path only",
			opts:    Options{Protocol: "http", APIPath: "/v2", SocketPath: "/socket.io"},
			api:     []string{"http://api.example.com/v2", "http://b.example/v2", "http://192.0.2.1/v2", "http://[2001:db8::7]/v2"},
			sockets: []string{"http://api.example.com/socket.io", "http://b.example/socket.io", "http://192.0.2.1/socket.io", "http://[2001:db8::7]/socket.io"},
		},
		{
			name:    "socket path and port",
			opts:    Options{SocketPath: "/ws/", DefaultPort: 443},
			api:     []string{"https://api.example.com:443/api/v1", "https://b.example:443/api/v1", "https://192.0.2.1:443/api/v1", "https://[2001:db8::7]:443/api/v1"},
			sockets: []string{"https://api.example.com:443/ws/", "https://b.example:443/ws/", "https://192.0.2.1:443/ws/", "https://[2001:db8::7]:443/ws/"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Render(list, tt.opts)
			var api, sockets []string
			for i, e := range d.APIEndpoints {
				if e.Priority != i || d.SocketIOEndpoints[i].Priority != i {
					t.Errorf("endpoint %d has priorities %d and %d", i, e.Priority, d.SocketIOEndpoints[i].Priority)
				}
				api = append(api, e.URL)
				sockets = append(sockets, d.SocketIOEndpoints[i].URL)
			}
			if !reflect.DeepEqual(api, tt.api) {
				t.Errorf("API URLs:\n got %q\nwant %q", api, tt.api)
			}
			if !reflect.DeepEqual(sockets, tt.sockets) {
				t.Errorf("Socket.IO URLs:\n got %q\nwant %q", sockets, tt.sockets)
			}
		})
	}
}

func TestRenderEmpty(t *testing.T) {
	want := "{\n  \"api_endpoints\": [],\n  \"socketio_endpoints\": []\n}\n"
	for _, tt := range []struct {
		name string
		doc  Document
	}{
		{"nil list", Render(nil, Options{})},
		{"empty list", Render(&List{}, Options{})},
		{"zero document", Document{}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b, err := tt.doc.JSON()
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != want {
				t.Errorf("JSON() = %q, want %q", b, want)
			}
		})
	}
}

func TestOptionsValidate(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		want string // "" means valid
	}{
		{"zero value", Options{}, ""},
		{"everything set", Options{Protocol: "http", APIPath: "/", SocketPath: "/socket.io/", DefaultPort: 65535}, ""},
		{"unknown protocol", Options{Protocol: "wss"}, `protocol must be http or https, not "wss"`},
		{"protocol is case-sensitive", Options{Protocol: "HTTPS"}, `protocol must be http or https, not "HTTPS"`},
		{"relative api path", Options{APIPath: "api/v1"}, `api path "api/v1" must start with "/"`},
		{"api path with query", Options{APIPath: "/api?x=1"}, `api path "/api?x=1" must be a plain path: no spaces, control characters, '?', '#' or '%'`},
		{"socket path with space", Options{SocketPath: "/socket io"}, `socket path "/socket io" must be a plain path: no spaces, control characters, '?', '#' or '%'`},
		{"relative socket path", Options{SocketPath: "socket.io"}, `socket path "socket.io" must start with "/"`},
		{"negative port", Options{DefaultPort: -1}, "default port must be 0 (none) to 65535, not -1"},
		{"port too big", Options{DefaultPort: 65536}, "default port must be 0 (none) to 65535, not 65536"},
		{"all at once", Options{Protocol: "ftp", APIPath: "x", DefaultPort: 70000}, strings.Join([]string{
			`protocol must be http or https, not "ftp"`,
			`api path "x" must start with "/"`,
			"default port must be 0 (none) to 65535, not 70000",
		}, "\n")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.opts.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("Validate() = %v, want nil", err)
			case tt.want != "" && (err == nil || err.Error() != tt.want):
				t.Errorf("Validate() = %v, want %s", err, tt.want)
			}
		})
	}
}

func TestJSONDoesNotEscapeHTML(t *testing.T) {
	d := Render(&List{Domains: []string{"a.example"}}, Options{APIPath: "/a&b<c>"})
	b, err := d.JSON()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"https://a.example/a&b<c>"`) {
		t.Errorf("JSON() escaped the URL:\n%s", b)
	}
}
