package dnsrecords

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/edgectl/edgectl/internal/golden"
)

// dnspodFake answers like DNSPod's API 2021-03-23 on Tencent Cloud, as its
// documentation describes it: a JSON POST to /, the action in X-TC-Action,
// the version in X-TC-Version, signed with TC3-HMAC-SHA256:
//
//	Authorization: TC3-HMAC-SHA256 Credential=ID/DATE/dnspod/tc3_request, SignedHeaders=content-type;host, Signature=HEX
//
// with the key derived as HMAC(HMAC(HMAC("TC3"+secret, DATE), "dnspod"),
// "tc3_request") over "TC3-HMAC-SHA256\nTIMESTAMP\nDATE/dnspod/tc3_request\n"
// + hex(sha256(canonical request)). Every answer is HTTP 200 with
// {"Response":{...,"RequestId"}}; errors are {"Response":{"Error":{"Code",
// "Message"},"RequestId"}}, e.g. ResourceNotFound.NoDataOfRecord for a name
// without records.
func dnspodFake(t *testing.T, z *fakeZone, id, key string) string {
	reply := func(w http.ResponseWriter, resp map[string]any) {
		resp["RequestId"] = "6ef60bec-0242-43af-bb20-270359fb54a7"
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"Response": resp})
	}
	fail := func(w http.ResponseWriter, code, msg string) {
		reply(w, map[string]any{"Error": map[string]string{"Code": code, "Message": msg}})
	}
	return z.serve(t, func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		action := r.Header.Get("X-TC-Action")
		z.logf("%s %s X-TC-Action=%s X-TC-Version=%s\n  %s\n", r.Method, r.URL.Path, action, r.Header.Get("X-TC-Version"), body)
		switch cred, ok, err := tc3Check(r, body, key); {
		case err != nil:
			fail(w, "AuthFailure.SignatureFailure", err.Error())
			return
		case cred != id:
			fail(w, "AuthFailure.SecretIdNotFound", "The SecretId is not found, please ensure that your SecretId is correct.")
			return
		case !ok:
			fail(w, "AuthFailure.SignatureFailure", "The provided credentials could not be validated. Please check your signature is correct.")
			return
		}
		var in struct {
			Domain, Subdomain, SubDomain, RecordType, RecordLine, Value string
			TTL, RecordId, Offset, Limit                                int
		}
		_ = json.Unmarshal(body, &in)
		if in.Domain != z.zone {
			fail(w, "ResourceNotFound.NoDataOfDomain", "域名不存在。")
			return
		}
		switch action {
		case "DescribeRecordList":
			var list []any
			for _, rec := range z.recs {
				if in.Subdomain == "" || z.rel(rec.Name) == in.Subdomain {
					list = append(list, map[string]any{"RecordId": rec.ID, "Value": rec.Content, "Status": "ENABLE",
						"UpdatedOn": "2025-03-01 12:00:00", "Name": z.rel(rec.Name), "Line": "默认", "LineId": "0",
						"Type": rec.Type, "Weight": nil, "MonitorStatus": "", "Remark": "", "TTL": rec.TTL, "MX": 0, "DefaultNS": false})
				}
			}
			if len(list) == 0 {
				fail(w, "ResourceNotFound.NoDataOfRecord", "记录列表为空。")
				return
			}
			limit := in.Limit
			if limit == 0 {
				limit = 100
			}
			lo, hi := min(in.Offset, len(list)), min(in.Offset+limit, len(list))
			reply(w, map[string]any{"RecordCountInfo": map[string]int{"SubdomainCount": len(list), "ListCount": hi - lo, "TotalCount": len(list)},
				"RecordList": list[lo:hi]})
		case "CreateRecord":
			if in.RecordLine == "" {
				fail(w, "MissingParameter", "The request is missing a required parameter `RecordLine`.")
				return
			}
			name := z.fqdn(in.SubDomain)
			if _, dup := z.find(name, in.RecordType, in.Value); dup {
				fail(w, "InvalidParameter.DomainRecordExist", "记录已经存在，无需再次添加。")
				return
			}
			rec := z.add(name, in.RecordType, in.Value, in.TTL)
			reply(w, map[string]any{"RecordId": rec.ID})
		case "DeleteRecord":
			if !z.remove(in.RecordId) {
				fail(w, "InvalidParameter.RecordIdInvalid", "记录编号错误。")
				return
			}
			reply(w, map[string]any{})
		default:
			fail(w, "InvalidAction", "The action "+action+" is not found.")
		}
	}).URL
}

// tc3Check verifies r's TC3-HMAC-SHA256 signature with key and returns the
// SecretId it names.
func tc3Check(r *http.Request, body []byte, key string) (id string, ok bool, err error) {
	auth, found := strings.CutPrefix(r.Header.Get("Authorization"), "TC3-HMAC-SHA256 ")
	if !found {
		return "", false, fmt.Errorf("the Authorization header is not TC3-HMAC-SHA256")
	}
	parts := map[string]string{}
	for _, kv := range strings.Split(auth, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(kv), "=")
		parts[k] = v
	}
	scope := strings.Split(parts["Credential"], "/") // ID/DATE/SERVICE/tc3_request
	if len(scope) != 4 || scope[2] != "dnspod" || scope[3] != "tc3_request" {
		return "", false, fmt.Errorf("credential scope %q is not ID/DATE/dnspod/tc3_request", parts["Credential"])
	}
	ts, _ := strconv.ParseInt(r.Header.Get("X-TC-Timestamp"), 10, 64)
	date := time.Unix(ts, 0).UTC().Format(time.DateOnly)
	if date != scope[1] || time.Since(time.Unix(ts, 0)).Abs() > 5*time.Minute {
		return scope[0], false, fmt.Errorf("the request timestamp is out of range")
	}
	var headers strings.Builder
	for _, h := range strings.Split(parts["SignedHeaders"], ";") {
		v := r.Header.Get(h)
		if h == "host" {
			v = r.Host
		}
		headers.WriteString(h + ":" + strings.ToLower(strings.TrimSpace(v)) + "\n")
	}
	sum := sha256.Sum256(body)
	canon := strings.Join([]string{r.Method, "/", r.URL.RawQuery, headers.String(), parts["SignedHeaders"], hex.EncodeToString(sum[:])}, "\n")
	hc := sha256.Sum256([]byte(canon))
	toSign := "TC3-HMAC-SHA256\n" + r.Header.Get("X-TC-Timestamp") + "\n" + strings.Join(scope[1:], "/") + "\n" + hex.EncodeToString(hc[:])
	mac := func(k []byte, msg string) []byte {
		h := hmac.New(sha256.New, k)
		h.Write([]byte(msg))
		return h.Sum(nil)
	}
	signing := mac(mac(mac([]byte("TC3"+key), date), "dnspod"), "tc3_request")
	return scope[0], hmac.Equal([]byte(hex.EncodeToString(mac(signing, toSign))), []byte(parts["Signature"])), nil
}

func TestTencentCloudAgainstFake(t *testing.T) {
	const id, key = "AKIDtencentSecretId", "tencent-secret-SECRET-key"
	z := newFakeZone()
	url := dnspodFake(t, z, id, key)
	p, err := New(Config{Provider: "tencentcloud", Zone: "example.test", endpoint: strings.TrimPrefix(url, "http://"),
		Env: envOf(map[string]string{"TENCENTCLOUD_SECRET_ID": id, "TENCENTCLOUD_SECRET_KEY": key})})
	if err != nil {
		t.Fatal(err)
	}
	exercise(t, p)
	recs, err := p.List(t.Context(), "nothing-here.example.test")
	if err != nil || len(recs) != 0 {
		t.Fatalf("a name without records: %v %v", recs, err)
	}
	golden.Check(t, "tencentcloud request log", filepath.Join("testdata", "tencentcloud.golden"), z.Log())

	t.Run("wrong secret", func(t *testing.T) {
		p, err := New(Config{Provider: "tencentcloud", Zone: "example.test", endpoint: strings.TrimPrefix(url, "http://"),
			Env: envOf(map[string]string{"TENCENTCLOUD_SECRET_ID": id, "TENCENTCLOUD_SECRET_KEY": "wrong-SECRET-value"})})
		if err != nil {
			t.Fatal(err)
		}
		_, err = p.Add(t.Context(), rec("api.example.test", "192.0.2.5", 60))
		if err == nil || !strings.Contains(err.Error(), "AuthFailure.SignatureFailure") || strings.Contains(err.Error(), "wrong-SECRET-value") {
			t.Fatalf("err %v", err)
		}
		t.Logf("wrong secret: %v", err)
	})
}
