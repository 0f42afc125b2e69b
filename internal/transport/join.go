package transport

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"cis490/internal/wire"
)

// RenewCert POSTs /v1/certs/renew with a CSR for a new key, authenticated
// like every request of this client (SPEC §14). A refusal is a *wire.Error.
func (c *Client) RenewCert(ctx context.Context, csrPEM string) (wire.RenewReply, error) {
	var reply wire.RenewReply
	b, err := json.Marshal(wire.RenewRequest{CSR: csrPEM})
	if err != nil {
		return reply, err
	}
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	resp, body, err := c.do(ctx, http.MethodPost, wire.RenewPath, h, strings.NewReader(string(b)), int64(len(b)), nil)
	if err != nil {
		return reply, fmt.Errorf("renew: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return reply, fmt.Errorf("renew: %w", decodeError(resp, body))
	}
	if err := json.Unmarshal(body, &reply); err != nil {
		return reply, fmt.Errorf("renew: reply: %w", err)
	}
	return reply, nil
}

// FetchReleaseKey GETs /v1/releases/key (SPEC §15): the release public key
// in PEM, or found == false when the receiver serves none (404).
func (c *Client) FetchReleaseKey(ctx context.Context) (key []byte, found bool, err error) {
	resp, body, err := c.do(ctx, http.MethodGet, wire.ReleaseKeyPath, nil, nil, 0, nil)
	if err != nil {
		return nil, false, fmt.Errorf("release key: %w", err)
	}
	switch resp.StatusCode {
	case http.StatusOK:
		return body, true, nil
	case http.StatusNotFound:
		return nil, false, nil
	}
	return nil, false, fmt.Errorf("release key: %w", decodeError(resp, body))
}
