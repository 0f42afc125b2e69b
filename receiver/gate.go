package main

import (
	"context"
	"log/slog"
	"sync"

	"cis490/internal/config"
	"cis490/internal/wire"
	"cis490/receiver/api"
	"cis490/receiver/gatecache"
)

// gateAdapter presents the gate cache as the API's Gate.
type gateAdapter struct{ c *gatecache.Cache }

func (g gateAdapter) Check(header string, present bool) *wire.Error {
	_, e := g.c.Check(header, present)
	return e
}

func (g gateAdapter) Verdict(header string) string { return string(g.c.Verdict(header, true)) }

// startGate builds the version gate from its config and starts its
// background refresh; stop ends the refresh loop and waits for it.
func startGate(ctx context.Context, cfg config.VersionGate, log *slog.Logger) (api.Gate, func() api.GateStats, func(), error) {
	c, err := gatecache.New(cfg, log)
	if err != nil {
		return nil, nil, nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); c.Run(ctx) }()
	stats := func() api.GateStats {
		s := c.Stats()
		return api.GateStats{Enabled: s.Enabled, Source: s.Source, Commits: s.Commits, LastRefresh: s.LastRefresh}
	}
	return gateAdapter{c}, stats, func() { cancel(); wg.Wait() }, nil
}
