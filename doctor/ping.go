package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"

	"cis490/internal/config"
	"cis490/internal/wire"
)

// pingReceiver POSTs /v1/ping with the host's token, CA bundle and client
// certificate. Refusals come back as *wire.Error.
func pingReceiver(ctx context.Context, cfg config.LabHost) (wire.PingReply, error) {
	var reply wire.PingReply
	rc := cfg.Receiver
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if rc.CABundle != "" {
		b, err := os.ReadFile(rc.CABundle)
		if err != nil {
			return reply, err
		}
		tc.RootCAs = x509.NewCertPool()
		tc.RootCAs.AppendCertsFromPEM(b)
	}
	if rc.ClientCert != "" {
		pair, err := tls.LoadX509KeyPair(rc.ClientCert, rc.ClientKey)
		if err != nil {
			return reply, err
		}
		tc.Certificates = []tls.Certificate{pair}
	}
	token := rc.Token
	if rc.TokenFile != "" {
		b, err := os.ReadFile(rc.TokenFile)
		if err != nil {
			return reply, err
		}
		token = strings.TrimSpace(string(b))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(rc.URL, "/")+wire.PingPath, nil)
	if err != nil {
		return reply, err
	}
	req.Header.Set(wire.HeaderHost, cfg.HostID)
	if token != "" {
		req.Header.Set(wire.HeaderAuthorization, "Bearer "+token)
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: tc}}
	defer hc.CloseIdleConnections()
	resp, err := hc.Do(req)
	if err != nil {
		return reply, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return reply, err
	}
	if resp.StatusCode != http.StatusOK {
		var eb wire.ErrorBody
		_ = json.Unmarshal(body, &eb)
		return reply, &wire.Error{Status: resp.StatusCode, Code: eb.Error, Detail: eb.Detail}
	}
	if err := json.Unmarshal(body, &reply); err != nil {
		return reply, fmt.Errorf("ping reply: %w", err)
	}
	return reply, nil
}
