package dnsrecords

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	openapi "github.com/alibabacloud-go/darabonba-openapi/v2/client"
	"github.com/alibabacloud-go/tea/dara"
	"github.com/alibabacloud-go/tea/tea"
	alidns "github.com/go-acme/alidns-20150109/v4/client"
)

// newAliDNS talks to Alibaba Cloud DNS (API version 2015-01-09) through
// the SDK lego uses, with ALICLOUD_ACCESS_KEY, ALICLOUD_SECRET_KEY and
// optionally ALICLOUD_SECURITY_TOKEN and ALICLOUD_REGION_ID (default
// cn-hangzhou), lego's names. Records are read with
// DescribeSubDomainRecords, added with AddDomainRecord (line "default")
// and removed with DeleteDomainRecord.
func newAliDNS(c Config, cr *creds) (Provider, error) {
	ak, err := cr.need("ALICLOUD_ACCESS_KEY")
	if err != nil {
		return nil, err
	}
	sk, err := cr.need("ALICLOUD_SECRET_KEY")
	if err != nil {
		return nil, err
	}
	region := cr.get("ALICLOUD_REGION_ID")
	if region == "" {
		region = "cn-hangzhou"
	}
	ms := int(c.Timeout.Milliseconds())
	cfg := new(openapi.Config).SetAccessKeyId(ak).SetAccessKeySecret(sk).SetRegionId(region).
		SetReadTimeout(ms).SetConnectTimeout(ms)
	if tok := cr.get("ALICLOUD_SECURITY_TOKEN"); tok != "" {
		cfg.SetSecurityToken(tok)
	}
	if c.endpoint != "" {
		cfg.SetEndpoint(c.endpoint).SetProtocol("http")
	}
	client, err := alidns.NewClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("new client: %w", err)
	}
	return &aliDNS{client: client, zone: c.Zone}, nil
}

type aliDNS struct {
	client *alidns.Client
	zone   string
}

func (p *aliDNS) List(ctx context.Context, name string) ([]Record, error) {
	var out []Record
	for page := int64(1); ; page++ {
		req := new(alidns.DescribeSubDomainRecordsRequest).SetSubDomain(name).SetDomainName(p.zone).
			SetPageNumber(page).SetPageSize(100)
		resp, err := alidns.DescribeSubDomainRecordsWithContext(ctx, p.client, req, &dara.RuntimeOptions{})
		if err != nil {
			return nil, aliError(err)
		}
		b := resp.Body
		if b == nil || b.DomainRecords == nil {
			break
		}
		for _, r := range b.DomainRecords.Record {
			typ := dara.StringValue(r.Type)
			if typ != TypeA && typ != TypeAAAA {
				continue
			}
			a, err := netip.ParseAddr(dara.StringValue(r.Value))
			if err != nil {
				continue
			}
			out = append(out, Record{Name: absolute(dara.StringValue(r.RR), p.zone), Type: typ, Addr: a.Unmap(),
				TTL: int(dara.Int64Value(r.TTL)), ID: dara.StringValue(r.RecordId)})
		}
		if int64(len(b.DomainRecords.Record)) < 100 || page*100 >= dara.Int64Value(b.TotalCount) {
			break
		}
	}
	return keep(out, name), nil
}

func (p *aliDNS) Add(ctx context.Context, r Record) (Record, error) {
	req := new(alidns.AddDomainRecordRequest).SetDomainName(p.zone).SetRR(relative(r.Name, p.zone)).
		SetType(r.Type).SetValue(r.Addr.String()).SetTTL(int64(r.TTL))
	resp, err := alidns.AddDomainRecordWithContext(ctx, p.client, req, &dara.RuntimeOptions{})
	if err != nil {
		return r, aliError(err)
	}
	if resp.Body != nil {
		r.ID = dara.StringValue(resp.Body.RecordId)
	}
	return r, nil
}

func (p *aliDNS) Delete(ctx context.Context, r Record) error {
	id, err := findID(ctx, p, r)
	if err != nil || id == "" {
		return err
	}
	_, err = alidns.DeleteDomainRecordWithContext(ctx, p.client, new(alidns.DeleteDomainRecordRequest).SetRecordId(id), &dara.RuntimeOptions{})
	return aliError(err)
}

// aliError keeps the API's code and message (with the HTTP status) and
// drops the rest of the SDK's text (request details, long hints).
func aliError(err error) error {
	if err == nil {
		return nil
	}
	var se *tea.SDKError
	if errors.As(err, &se) {
		return fmt.Errorf("answered HTTP %d %s: %s", tea.IntValue(se.StatusCode), tea.StringValue(se.Code), tea.StringValue(se.Message))
	}
	msg := err.Error()
	if i := strings.Index(msg, "\n"); i > 0 {
		msg = msg[:i]
	}
	return errors.New(strings.TrimSpace(msg))
}

// findID is the provider ID of the record of r's name, type and address:
// r.ID when set, else looked up ("" when there is no such record, which is
// what a delete wanted).
func findID(ctx context.Context, p Provider, r Record) (string, error) {
	if r.ID != "" {
		return r.ID, nil
	}
	recs, err := p.List(ctx, r.Name)
	if err != nil {
		return "", err
	}
	for _, x := range recs {
		if x.Type == r.Type && x.Addr == r.Addr {
			return x.ID, nil
		}
	}
	return "", nil
}

// itoa is strconv.Itoa for uint64 IDs.
func itoa(n uint64) string { return strconv.FormatUint(n, 10) }
