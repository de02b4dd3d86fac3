package dnsrecords

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/edgectl/edgectl/internal/golden"
)

// cloudflareFake answers like Cloudflare's API v4 (the shapes of its
// documentation: every answer is {"success","errors","messages","result"},
// lists carry "result_info", errors have a code and a message):
//
//	GET    /client/v4/zones?name=Z                       the zone
//	GET    /client/v4/zones/ID/dns_records[?type,name,content,page,per_page]
//	POST   /client/v4/zones/ID/dns_records               create (81058 if identical)
//	DELETE /client/v4/zones/ID/dns_records/RID           delete (81044 if unknown)
//
// A request without "Authorization: Bearer TOKEN" gets 403 with code 10000.
func cloudflareFake(t *testing.T, z *fakeZone, token string) string {
	const zoneID = "023e105f4ecef8ad9ca31a8372d0c353"
	reply := func(w http.ResponseWriter, status int, result any, info map[string]int, errs ...map[string]any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		body := map[string]any{"success": len(errs) == 0, "errors": errs, "messages": []any{}, "result": result}
		if errs == nil {
			body["errors"] = []any{}
		}
		if info != nil {
			body["result_info"] = info
		}
		_ = json.NewEncoder(w).Encode(body)
	}
	cfErr := func(code int, msg string) map[string]any { return map[string]any{"code": code, "message": msg} }
	record := func(r fakeRec) map[string]any {
		return map[string]any{"id": fmt.Sprintf("%032x", r.ID), "zone_id": zoneID, "zone_name": z.zone, "name": r.Name,
			"type": r.Type, "content": r.Content, "proxiable": true, "proxied": false, "ttl": r.TTL, "locked": false,
			"created_on": "2025-03-01T12:00:00Z", "modified_on": "2025-03-01T12:00:00Z"}
	}
	return z.serve(t, func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		z.logf("%s %s\n", r.Method, r.URL.RequestURI())
		if len(body) > 0 {
			z.logf("%s\n", body)
		}
		if r.Header.Get("Authorization") != "Bearer "+token {
			reply(w, http.StatusForbidden, nil, nil, cfErr(10000, "Authentication error"))
			return
		}
		q := r.URL.Query()
		path := strings.TrimPrefix(r.URL.Path, "/client/v4")
		switch {
		case r.Method == http.MethodGet && path == "/zones":
			var zones []any
			if q.Get("name") == z.zone {
				zones = append(zones, map[string]any{"id": zoneID, "name": z.zone, "status": "active", "paused": false, "type": "full",
					"name_servers": []string{"ns1.example.net", "ns2.example.net"}})
			}
			reply(w, 200, zones, map[string]int{"page": 1, "per_page": 20, "count": len(zones), "total_count": len(zones), "total_pages": 1})
		case path == "/zones/"+zoneID+"/dns_records" && r.Method == http.MethodGet:
			var all []any
			for _, rec := range z.recs {
				if (q.Get("type") == "" || q.Get("type") == rec.Type) && (q.Get("name") == "" || q.Get("name") == rec.Name) &&
					(q.Get("content") == "" || q.Get("content") == rec.Content) {
					all = append(all, record(rec))
				}
			}
			page, per := atoiOr(q.Get("page"), 1), atoiOr(q.Get("per_page"), 100)
			lo, hi := min((page-1)*per, len(all)), min(page*per, len(all))
			reply(w, 200, all[lo:hi], map[string]int{"page": page, "per_page": per, "count": hi - lo, "total_count": len(all), "total_pages": (len(all) + per - 1) / per})
		case path == "/zones/"+zoneID+"/dns_records" && r.Method == http.MethodPost:
			var in struct {
				Type, Name, Content string
				TTL                 int
			}
			if json.Unmarshal(body, &in) != nil || in.Type == "" || in.Name == "" || in.Content == "" {
				reply(w, 400, nil, nil, cfErr(9000, "DNS name is invalid."))
				return
			}
			name := z.fqdn(in.Name)
			if _, dup := z.find(name, in.Type, in.Content); dup {
				reply(w, 400, nil, nil, cfErr(81058, "An identical record already exists."))
				return
			}
			if in.TTL == 0 {
				in.TTL = 1 // automatic
			}
			reply(w, 200, record(z.add(name, in.Type, in.Content, in.TTL)), nil)
		case strings.HasPrefix(path, "/zones/"+zoneID+"/dns_records/") && r.Method == http.MethodDelete:
			id, err := strconv.ParseInt(strings.TrimPrefix(path, "/zones/"+zoneID+"/dns_records/"), 16, 64)
			if err != nil || !z.remove(int(id)) {
				reply(w, 404, nil, nil, cfErr(81044, "Record does not exist."))
				return
			}
			reply(w, 200, map[string]string{"id": fmt.Sprintf("%032x", id)}, nil)
		default:
			reply(w, 404, nil, nil, cfErr(7003, "Could not route to "+path+", perhaps your object identifier is invalid?"))
		}
	}).URL
}

func atoiOr(s string, def int) int {
	if n, err := strconv.Atoi(s); err == nil && n > 0 {
		return n
	}
	return def
}

// routeCloudflare sends http.DefaultClient's requests for
// api.cloudflare.com to the fake: libdns/cloudflare v0.2.1 uses
// http.DefaultClient and a fixed base URL, so that client's transport is
// the only seam. Anything else is refused, so no test request leaves the
// machine.
func routeCloudflare(t *testing.T, fake string) {
	to, _ := url.Parse(fake)
	old := http.DefaultClient.Transport
	http.DefaultClient.Transport = roundTripper(func(r *http.Request) (*http.Response, error) {
		if r.URL.Host != "api.cloudflare.com" {
			return nil, fmt.Errorf("test: refusing a request to %s", r.URL.Host)
		}
		r = r.Clone(r.Context())
		r.URL.Scheme, r.URL.Host = to.Scheme, to.Host
		return http.DefaultTransport.RoundTrip(r)
	})
	t.Cleanup(func() { http.DefaultClient.Transport = old })
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestCloudflareAgainstFake(t *testing.T) {
	const token = "cf-token-SECRET-0123456789"
	z := newFakeZone()
	routeCloudflare(t, cloudflareFake(t, z, token))
	p, err := New(Config{Provider: "cloudflare", Zone: "example.test", Env: envOf(map[string]string{"CLOUDFLARE_DNS_API_TOKEN": token})})
	if err != nil {
		t.Fatal(err)
	}
	exercise(t, p)
	golden.Check(t, "cloudflare request log", filepath.Join("testdata", "cloudflare.golden"), z.Log())
}

func TestCloudflareErrors(t *testing.T) {
	const token = "cf-token-SECRET-0123456789"
	z := newFakeZone()
	routeCloudflare(t, cloudflareFake(t, z, token))
	t.Run("wrong token", func(t *testing.T) {
		p, err := New(Config{Provider: "cloudflare", Zone: "example.test", Env: envOf(map[string]string{"CF_DNS_API_TOKEN": "wrong-SECRET-token"})})
		if err != nil {
			t.Fatal(err)
		}
		_, err = p.List(t.Context(), "api.example.test")
		if err == nil || !strings.Contains(err.Error(), "Authentication error") || strings.Contains(err.Error(), "wrong-SECRET-token") {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("a full page is refused", func(t *testing.T) {
		for i := range cloudflarePage {
			z.add(fmt.Sprintf("h%d.example.test", i), "A", "192.0.2.100", 60)
		}
		p, _ := New(Config{Provider: "cloudflare", Zone: "example.test", Env: envOf(map[string]string{"CLOUDFLARE_DNS_API_TOKEN": token})})
		_, err := p.List(t.Context(), "api.example.test")
		if err == nil || !strings.Contains(err.Error(), "reads one page of 100") {
			t.Fatalf("a listing that may be cut short was used: %v", err)
		}
	})
}
