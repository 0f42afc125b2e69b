package main

import (
	"context"
	"errors"

	"cis490/internal/config"
)

// configCheck: the config parses and names the host (SPEC §9).
type configCheck struct{ h *host }

func (configCheck) Name() string { return "config" }

func (c configCheck) Run(context.Context) Result {
	h := c.h
	if h.cfgErr != nil {
		file := config.LabHostPath
		var ce *config.Error
		if errors.As(h.cfgErr, &ce) && ce.File != "" {
			file = ce.File
		}
		return result(Fail, "sudoedit "+file, "%v", h.cfgErr)
	}
	if h.cfgPath == "" {
		// Built-in defaults are a loopback trial: a deployed host that
		// lost its config ships to 127.0.0.1.
		return result(Warn, "sudoedit "+config.LabHostPath,
			"no %s: built-in defaults (host_id=%s, receiver %s)", config.LabHostPath, h.cfg.HostID, h.cfg.Receiver.URL)
	}
	return result(OK, "", "%s: host_id=%s, receiver %s", h.cfgPath, h.cfg.HostID, h.cfg.Receiver.URL)
}
