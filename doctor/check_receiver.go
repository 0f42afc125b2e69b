package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"cis490/internal/transport"
	"cis490/internal/wire"
)

// receiverCheck: the receiver answers /v1/ping and accepts this host's
// credentials (SPEC §4.4, §9). It is bounded by Env.PingTimeout so that an
// unreachable receiver cannot hold the doctor past its deadline.
type receiverCheck struct{ h *host }

func (receiverCheck) Name() string { return "receiver" }

func (c receiverCheck) Run(ctx context.Context) Result {
	h := c.h
	if !h.configured() {
		return skipNoConfig
	}
	url := h.cfg.Receiver.URL
	ctx, cancel := context.WithTimeout(ctx, h.env.PingTimeout)
	defer cancel()
	reply, err := h.env.Ping(ctx, h.cfg)
	if err == nil {
		return result(OK, "", "%s answers ping as host %s (receiver %s)", url, reply.Host, reply.Version)
	}
	var we *wire.Error
	switch {
	case errors.As(err, &we) && we.Status == http.StatusUnauthorized:
		return result(Fail, "", "%s refused the token (401 %s): token_file must hold a token the receiver's [auth] knows", url, we.Code)
	case errors.As(err, &we) && we.Code == wire.CodeHostRevoked:
		return result(Fail, fmt.Sprintf("on the receiver: cis490-receiver host add %s; then here the join line it prints", h.cfg.HostID),
			"%s revoked host %s (403 host-revoked): it needs a new join", url, h.cfg.HostID)
	case errors.As(err, &we) && we.Status == http.StatusForbidden:
		return result(Fail, "", "%s refused host %s (403 %s): %s", url, h.cfg.HostID, we.Code, we.Detail)
	case errors.As(err, &we):
		return result(Fail, "", "%s answered ping with %d %s: %s", url, we.Status, we.Code, we.Detail)
	case errors.Is(err, transport.ErrCertsNotReady):
		return result(Fail, "", "cannot ping %s: %v", url, err)
	case ctx.Err() != nil:
		return result(Fail, "curl -sS "+url+wire.HealthzPath, "%s did not answer within %s", url, h.env.PingTimeout)
	}
	return result(Fail, "curl -sS "+url+wire.HealthzPath, "%s unreachable: %v", url, err)
}
