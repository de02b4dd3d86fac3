package dnsrecords

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/edgectl/edgectl/internal/golden"
)

// aliDNSFake answers like Alibaba Cloud DNS's API 2015-01-09 in RPC style
// with V3 signatures, as its documentation describes them: the action in
// the x-acs-action header, parameters in the query, and
//
//	Authorization: ACS3-HMAC-SHA256 Credential=AK,SignedHeaders=h1;h2,Signature=HEX
//
// where HEX is HMAC-SHA256(secret, "ACS3-HMAC-SHA256\n" +
// hex(sha256(canonical request))) and the canonical request is method,
// path, the query sorted and RFC 3986-encoded, "name:value\n" per signed
// header, the signed header names, and x-acs-content-sha256. A wrong
// signature gets SignatureDoesNotMatch, an unknown key
// InvalidAccessKeyId.NotFound; answers are JSON with RequestId, errors
// carry Code and Message (HTTP 400/404).
func aliDNSFake(t *testing.T, z *fakeZone, ak, sk string) string {
	reply := func(w http.ResponseWriter, status int, body map[string]any) {
		body["RequestId"] = "C4E4F8A2-6E3B-5D0B-9F7A-6B0D6F6C0E1A"
		if status != 200 {
			body["HostId"] = "alidns.aliyuncs.com"
			body["Recommend"] = "https://api.aliyun.com/troubleshoot?q=" + body["Code"].(string)
		}
		w.Header().Set("Content-Type", "application/json;charset=utf-8")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(body)
	}
	fail := func(w http.ResponseWriter, status int, code, msg string) {
		reply(w, status, map[string]any{"Code": code, "Message": msg})
	}
	return z.serve(t, func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		q := r.URL.Query()
		action := r.Header.Get("x-acs-action")
		z.logf("%s %s x-acs-action=%s x-acs-version=%s\n  %s\n", r.Method, r.URL.Path, action, r.Header.Get("x-acs-version"), sortedQuery(q))
		switch cred, sig, err := acs3Check(r, body, sk); {
		case err != nil:
			fail(w, 400, "IncompleteSignature", err.Error())
			return
		case cred != ak:
			fail(w, 404, "InvalidAccessKeyId.NotFound", "Specified access key is not found.")
			return
		case !sig:
			fail(w, 400, "SignatureDoesNotMatch", "Specified signature is not matched with our calculation.")
			return
		}
		if r.Header.Get("x-acs-version") != "2015-01-09" {
			fail(w, 400, "InvalidVersion", "Specified parameter Version is not valid.")
			return
		}
		switch action {
		case "DescribeSubDomainRecords":
			name := strings.ToLower(q.Get("SubDomain"))
			var list []any
			for _, rec := range z.recs {
				if rec.Name == name && (q.Get("Type") == "" || q.Get("Type") == rec.Type) {
					list = append(list, map[string]any{"DomainName": z.zone, "RecordId": strconv.Itoa(rec.ID), "RR": z.rel(rec.Name),
						"Type": rec.Type, "Value": rec.Content, "TTL": rec.TTL, "Line": "default", "Status": "ENABLE", "Locked": false, "Weight": 1})
				}
			}
			page, size := atoiOr(q.Get("PageNumber"), 1), atoiOr(q.Get("PageSize"), 20)
			lo, hi := min((page-1)*size, len(list)), min(page*size, len(list))
			reply(w, 200, map[string]any{"TotalCount": len(list), "PageNumber": page, "PageSize": size,
				"DomainRecords": map[string]any{"Record": append([]any{}, list[lo:hi]...)}})
		case "AddDomainRecord":
			if q.Get("DomainName") != z.zone {
				fail(w, 400, "InvalidDomainName.NoExist", "The specified domain name does not exist. Refresh the page and try again.")
				return
			}
			name := z.fqdn(q.Get("RR"))
			if _, dup := z.find(name, q.Get("Type"), q.Get("Value")); dup {
				fail(w, 400, "DomainRecordDuplicate", "The DNS record already exists.")
				return
			}
			rec := z.add(name, q.Get("Type"), q.Get("Value"), atoiOr(q.Get("TTL"), 600))
			reply(w, 200, map[string]any{"RecordId": strconv.Itoa(rec.ID)})
		case "DeleteDomainRecord":
			id, _ := strconv.Atoi(q.Get("RecordId"))
			if !z.remove(id) {
				fail(w, 400, "DomainRecordNotBelongToUser", "The DNS record does not belong to you.")
				return
			}
			reply(w, 200, map[string]any{"RecordId": q.Get("RecordId")})
		default:
			fail(w, 404, "InvalidAction.NotFound", "Specified api is not found, please check your url and method.")
		}
	}).URL
}

// acs3Check verifies r's ACS3-HMAC-SHA256 signature with secret and
// returns the credential (access key ID) it names.
func acs3Check(r *http.Request, body []byte, secret string) (cred string, ok bool, err error) {
	auth, found := strings.CutPrefix(r.Header.Get("Authorization"), "ACS3-HMAC-SHA256 ")
	if !found {
		return "", false, fmt.Errorf("the Authorization header is not ACS3-HMAC-SHA256")
	}
	parts := map[string]string{}
	for _, kv := range strings.Split(auth, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(kv), "=")
		parts[k] = v
	}
	sum := sha256.Sum256(body)
	if got := r.Header.Get("x-acs-content-sha256"); got != hex.EncodeToString(sum[:]) {
		return parts["Credential"], false, fmt.Errorf("x-acs-content-sha256 does not match the body")
	}
	signed := strings.Split(parts["SignedHeaders"], ";")
	var canonHeaders strings.Builder
	for _, h := range signed {
		v := r.Header.Get(h)
		if h == "host" {
			v = r.Host
		}
		canonHeaders.WriteString(h + ":" + strings.TrimSpace(v) + "\n")
	}
	canon := strings.Join([]string{r.Method, r.URL.EscapedPath(), sortedQuery(r.URL.Query()), canonHeaders.String(),
		parts["SignedHeaders"], r.Header.Get("x-acs-content-sha256")}, "\n")
	h := sha256.Sum256([]byte(canon))
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte("ACS3-HMAC-SHA256\n" + hex.EncodeToString(h[:])))
	return parts["Credential"], hmac.Equal([]byte(hex.EncodeToString(mac.Sum(nil))), []byte(parts["Signature"])), nil
}

// sortedQuery is q sorted by key, keys and values RFC 3986-encoded.
func sortedQuery(q url.Values) string {
	var keys []string
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	enc := func(s string) string {
		return strings.NewReplacer("+", "%20", "*", "%2A", "%7E", "~").Replace(url.QueryEscape(s))
	}
	var out []string
	for _, k := range keys {
		for _, v := range q[k] {
			out = append(out, enc(k)+"="+enc(v))
		}
	}
	return strings.Join(out, "&")
}

func TestAliDNSAgainstFake(t *testing.T) {
	const ak, sk = "LTAI5tAccessKeyID", "aliyun-secret-SECRET-key"
	z := newFakeZone()
	url := aliDNSFake(t, z, ak, sk)
	p, err := New(Config{Provider: "alidns", Zone: "example.test", endpoint: strings.TrimPrefix(url, "http://"),
		Env: envOf(map[string]string{"ALICLOUD_ACCESS_KEY": ak, "ALICLOUD_SECRET_KEY": sk})})
	if err != nil {
		t.Fatal(err)
	}
	exercise(t, p)
	golden.Check(t, "alidns request log", filepath.Join("testdata", "alidns.golden"), z.Log())

	t.Run("wrong secret", func(t *testing.T) {
		p, err := New(Config{Provider: "alidns", Zone: "example.test", endpoint: strings.TrimPrefix(url, "http://"),
			Env: envOf(map[string]string{"ALICLOUD_ACCESS_KEY": ak, "ALICLOUD_SECRET_KEY": "wrong-SECRET-value"})})
		if err != nil {
			t.Fatal(err)
		}
		_, err = p.List(t.Context(), "api.example.test")
		if err == nil || !strings.Contains(err.Error(), "SignatureDoesNotMatch") || strings.Contains(err.Error(), "wrong-SECRET-value") || strings.Contains(err.Error(), ak) {
			t.Fatalf("err %v", err)
		}
		t.Logf("wrong secret: %v", err)
	})
}
