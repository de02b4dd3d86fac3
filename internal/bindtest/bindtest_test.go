package bindtest

import (
	"reflect"
	"testing"

	"github.com/miekg/dns"
)

func TestServesTheZone(t *testing.T) {
	s := Start(t, Options{Records: []string{"api 60 IN A 198.18.0.11", "api 60 IN AAAA fd00:e:d9e::11"}})
	if got := s.Lookup(t, "api.example.test", dns.TypeA); !reflect.DeepEqual(got, []string{"198.18.0.11"}) {
		t.Fatalf("A %v\n%s", got, s.Log())
	}
	if got := s.Lookup(t, "api.example.test", dns.TypeAAAA); !reflect.DeepEqual(got, []string{"fd00:e:d9e::11"}) {
		t.Fatalf("AAAA %v", got)
	}
}
