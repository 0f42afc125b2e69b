package main

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"sync"

	"cis490/internal/config"
	fleetpki "cis490/internal/pki"
	"cis490/receiver/api"
	"cis490/receiver/registry"
)

// startRegistry opens the host registry, removes temp files of writes a
// crash interrupted, and refreshes it in the background until stop.
func startRegistry(ctx context.Context, dataDir string, log *slog.Logger) (*registry.View, func(), error) {
	if n, err := registry.RemoveTemps(dataDir); err != nil {
		return nil, nil, err
	} else if n > 0 {
		log.Warn("removed temp files of interrupted host registry writes", "count", n)
	}
	reg, err := registry.Open(dataDir, log)
	if err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); reg.Run(ctx) }()
	return reg, func() { cancel(); wg.Wait() }, nil
}

// loadFleetCA reads the [pki] CA. Without its certificate file the PKI is
// off: joins issue tokens only and /v1/ca answers 404 pki-off.
func loadFleetCA(cfg config.PKI, log *slog.Logger) (*api.PKI, error) {
	ca, caPEM, err := fleetpki.ReadCA(cfg.CACert(), cfg.CAKey())
	if errors.Is(err, fs.ErrNotExist) {
		log.Info("no fleet CA: joins issue tokens only (cis490-receiver pki init creates one)", "ca_cert_file", cfg.CACert())
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	log.Info("fleet CA loaded", "ca_sha256", fleetpki.Fingerprint(ca.Cert.Raw), "cert_days", cfg.CertDays)
	return &api.PKI{CA: ca, CAPEM: caPEM, CertDays: cfg.CertDays}, nil
}
