package main

import (
	"context"

	"cis490/internal/config"
	"cis490/internal/transport"
	"cis490/internal/wire"
)

// pingReceiver POSTs /v1/ping through the shipper's own transport, so the
// doctor tests exactly the URL, token, CA bundle and client certificate the
// shipper uses. Refusals come back as *wire.Error.
func pingReceiver(ctx context.Context, cfg config.LabHost) (wire.PingReply, error) {
	c, err := transport.New(cfg.Receiver, cfg.HostID, nil)
	if err != nil {
		return wire.PingReply{}, err
	}
	return c.Ping(ctx, "")
}
