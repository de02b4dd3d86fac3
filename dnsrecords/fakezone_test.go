package dnsrecords

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// fakeZone is the zone a vendor API fake serves: records with vendor IDs,
// and the log of requests it was sent, one normalized line (plus body) per
// request, compared with a golden file.
type fakeZone struct {
	mu   sync.Mutex
	zone string
	next int
	recs []fakeRec
	log  strings.Builder
}

type fakeRec struct {
	ID                  int
	Name, Type, Content string // Name is fully qualified, no final dot
	TTL                 int
}

// newFakeZone is example.test with the records exercise expects.
func newFakeZone() *fakeZone {
	z := &fakeZone{zone: "example.test", next: 1000}
	z.add("api.example.test", "A", "192.0.2.1", 300)
	z.add("api.example.test", "TXT", "v=spf1 -all", 300)
	z.add("www.example.test", "A", "192.0.2.9", 300)
	return z
}

func (z *fakeZone) add(name, typ, content string, ttl int) fakeRec {
	z.next++
	r := fakeRec{ID: z.next, Name: name, Type: typ, Content: content, TTL: ttl}
	z.recs = append(z.recs, r)
	return r
}

func (z *fakeZone) find(name, typ, content string) (fakeRec, bool) {
	for _, r := range z.recs {
		if r.Name == name && r.Type == typ && r.Content == content {
			return r, true
		}
	}
	return fakeRec{}, false
}

func (z *fakeZone) remove(id int) bool {
	for i, r := range z.recs {
		if r.ID == id {
			z.recs = append(z.recs[:i], z.recs[i+1:]...)
			return true
		}
	}
	return false
}

// fqdn is a vendor's relative or absolute name made absolute.
func (z *fakeZone) fqdn(rr string) string { return absolute(rr, z.zone) }

// rel is the vendor's relative name ("@" for the apex).
func (z *fakeZone) rel(name string) string { return relative(name, z.zone) }

func (z *fakeZone) logf(format string, a ...any) { fmt.Fprintf(&z.log, format, a...) }

// Log is the request log so far.
func (z *fakeZone) Log() []byte {
	z.mu.Lock()
	defer z.mu.Unlock()
	return []byte(z.log.String())
}

// serve runs h on loopback under z's lock.
func (z *fakeZone) serve(t *testing.T, h http.HandlerFunc) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		z.mu.Lock()
		defer z.mu.Unlock()
		h(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv
}
