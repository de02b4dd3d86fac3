package dnsrecords

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strconv"

	dnspod "github.com/go-acme/tencentclouddnspod/v20210323"
	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"
	sdkerrors "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/errors"
	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/profile"
)

// newTencentCloud talks to DNSPod's API 2021-03-23 on Tencent Cloud through
// the SDK lego uses, with TENCENTCLOUD_SECRET_ID, TENCENTCLOUD_SECRET_KEY
// and optionally TENCENTCLOUD_SESSION_TOKEN and TENCENTCLOUD_REGION (lego's
// names). Records are read with DescribeRecordList, added with
// CreateRecord (line 默认, the default line) and removed with
// DeleteRecord.
func newTencentCloud(c Config, cr *creds) (Provider, error) {
	id, err := cr.need("TENCENTCLOUD_SECRET_ID")
	if err != nil {
		return nil, err
	}
	key, err := cr.need("TENCENTCLOUD_SECRET_KEY")
	if err != nil {
		return nil, err
	}
	cred := common.NewCredential(id, key)
	if tok := cr.get("TENCENTCLOUD_SESSION_TOKEN"); tok != "" {
		cred = common.NewTokenCredential(id, key, tok)
	}
	cpf := profile.NewClientProfile()
	cpf.HttpProfile.Endpoint = "dnspod.tencentcloudapi.com"
	cpf.HttpProfile.ReqTimeout = max(1, int(c.Timeout.Seconds()))
	if c.endpoint != "" {
		cpf.HttpProfile.Endpoint, cpf.HttpProfile.Scheme = c.endpoint, "HTTP"
	}
	client, err := dnspod.NewClient(cred, cr.get("TENCENTCLOUD_REGION"), cpf)
	if err != nil {
		return nil, fmt.Errorf("new client: %w", err)
	}
	return &tencentCloud{client: client, zone: c.Zone}, nil
}

type tencentCloud struct {
	client *dnspod.Client
	zone   string
}

// defaultLine is DNSPod's default resolution line.
const defaultLine = "默认"

func (p *tencentCloud) List(ctx context.Context, name string) ([]Record, error) {
	var out []Record
	const limit = 1000
	for offset := uint64(0); ; offset += limit {
		req := dnspod.NewDescribeRecordListRequest()
		req.Domain = common.StringPtr(p.zone)
		req.Subdomain = common.StringPtr(relative(name, p.zone))
		req.Offset, req.Limit = common.Uint64Ptr(offset), common.Uint64Ptr(limit)
		resp, err := dnspod.DescribeRecordListWithContext(ctx, p.client, req)
		var sdkErr *sdkerrors.TencentCloudSDKError
		if errors.As(err, &sdkErr) && sdkErr.Code == dnspod.RESOURCENOTFOUND_NODATAOFRECORD {
			break // DNSPod's answer for a name without records
		}
		if err != nil {
			return nil, tencentError(err)
		}
		if resp.Response == nil {
			break
		}
		for _, r := range resp.Response.RecordList {
			typ := str(r.Type)
			if typ != TypeA && typ != TypeAAAA {
				continue
			}
			a, err := netip.ParseAddr(str(r.Value))
			if err != nil {
				continue
			}
			var ttl, rid uint64
			if r.TTL != nil {
				ttl = *r.TTL
			}
			if r.RecordId != nil {
				rid = *r.RecordId
			}
			out = append(out, Record{Name: absolute(str(r.Name), p.zone), Type: typ, Addr: a.Unmap(), TTL: int(ttl), ID: itoa(rid)})
		}
		total := uint64(0)
		if ci := resp.Response.RecordCountInfo; ci != nil && ci.TotalCount != nil {
			total = *ci.TotalCount
		}
		if uint64(len(resp.Response.RecordList)) < limit || offset+limit >= total {
			break
		}
	}
	return keep(out, name), nil
}

func (p *tencentCloud) Add(ctx context.Context, r Record) (Record, error) {
	req := dnspod.NewCreateRecordRequest()
	req.Domain = common.StringPtr(p.zone)
	req.SubDomain = common.StringPtr(relative(r.Name, p.zone))
	req.RecordType = common.StringPtr(r.Type)
	req.RecordLine = common.StringPtr(defaultLine)
	req.Value = common.StringPtr(r.Addr.String())
	req.TTL = common.Uint64Ptr(uint64(r.TTL))
	resp, err := dnspod.CreateRecordWithContext(ctx, p.client, req)
	if err != nil {
		return r, tencentError(err)
	}
	if resp.Response != nil && resp.Response.RecordId != nil {
		r.ID = itoa(*resp.Response.RecordId)
	}
	return r, nil
}

func (p *tencentCloud) Delete(ctx context.Context, r Record) error {
	id, err := findID(ctx, p, r)
	if err != nil || id == "" {
		return err
	}
	n, err := strconv.ParseUint(id, 10, 64)
	if err != nil {
		return fmt.Errorf("record ID %q is not a number", id)
	}
	req := dnspod.NewDeleteRecordRequest()
	req.Domain = common.StringPtr(p.zone)
	req.RecordId = common.Uint64Ptr(n)
	_, err = dnspod.DeleteRecordWithContext(ctx, p.client, req)
	return tencentError(err)
}

// tencentError keeps the API's code and message.
func tencentError(err error) error {
	var sdkErr *sdkerrors.TencentCloudSDKError
	if errors.As(err, &sdkErr) {
		return fmt.Errorf("%s: %s", sdkErr.Code, sdkErr.Message)
	}
	if err != nil {
		return err
	}
	return nil
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}
