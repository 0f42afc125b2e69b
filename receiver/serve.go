package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"sync/atomic"
	"time"

	"cis490/internal/buildinfo"
	"cis490/internal/cmdline"
	"cis490/internal/config"
	"cis490/internal/index"
	"cis490/internal/sdnotify"
	"cis490/receiver/api"
	"cis490/receiver/datadir"
	"cis490/receiver/fleetview"
	"cis490/receiver/releases"
	"cis490/receiver/replica"
	"cis490/receiver/store"
)

// drainTimeout bounds a graceful stop: SIGTERM drains within 10 s.
const drainTimeout = 9 * time.Second

// extraProcs is how many more Ps (GOMAXPROCS) than the runtime's default
// serve runs with. An upload's direct write and fsyncs block in the kernel
// for 0.1 ms to several ms, and a goroutine in a system call keeps its P
// until the runtime notices and hands the P on; with one P per CPU, the
// goroutines that the network or an index group just woke then wait for a
// P while a CPU idles. One P more than CPUs gave 8 small uploads at once
// about 1.1 times the uploads/s on two CPUs and one upload at a time the
// same (docs/BENCHMARKS.md, "One P more than CPUs").
const extraProcs = 1

// serveProcs is the GOMAXPROCS for serve: the runtime's default plus
// extraProcs, unless the operator set GOMAXPROCS, which wins.
func serveProcs(defaultProcs int, env string) int {
	if env != "" {
		return defaultProcs
	}
	return defaultProcs + extraProcs
}

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var c commonFlags
	fs := newFlagSet("serve", stderr, &c)
	listen := fs.String("listen", "", "listen address (overrides [server] listen)")
	if code, ok := parse(fs, args, &c, stdout); !ok {
		return code
	}
	cfg, used, err := loadConfig(&c)
	if err != nil {
		return fail(&c, stdout, stderr, exitConfigEr, "config", err)
	}
	if *listen != "" {
		cfg.Server.Listen = *listen
	}
	runtime.GOMAXPROCS(serveProcs(runtime.GOMAXPROCS(0), os.Getenv("GOMAXPROCS")))
	log := cmdline.NewLogger(stderr)
	if used == "" {
		log.Info("no config file; using built-in defaults")
	}
	notify := sdnotify.New(os.Getenv)
	if err := serve(ctx, cfg, serveOptions{log: log, notify: notify}); err != nil {
		log.Error("receiver stopped", "error", err)
		return exitProblem
	}
	return exitOK
}

// serveOptions are what serve needs besides the config.
type serveOptions struct {
	log    *slog.Logger
	notify *sdnotify.Notifier
	// bound, if set, receives the listener's address once it is accepting.
	bound chan<- net.Addr
	// replica, if set, adjusts the replicator's options (tests).
	replica func(*replica.Options)
}

// serve runs the API until ctx ends, then drains.
func serve(ctx context.Context, cfg config.Receiver, o serveOptions) error {
	log := o.log
	dataDir := cfg.Server.DataDir
	unlock, err := store.Lock(dataDir)
	if err != nil {
		return err
	}
	defer unlock()

	// The store tells the replicator of every stored episode; the
	// replicator needs the open store, so it is attached afterwards.
	var replicator atomic.Pointer[replica.Replicator]
	var handler atomic.Pointer[api.Handler]
	onStored := func(row index.Row) {
		if r := replicator.Load(); r != nil {
			r.Stored(row)
		}
	}
	st, rep, err := store.Open(dataDir, store.Options{Logger: log, OnStored: onStored})
	if err != nil {
		return err
	}
	defer st.Close()
	if rep.TornBytes > 0 || rep.TmpRemoved > 0 || rep.HealthTmpRemoved > 0 || len(rep.Relinked) > 0 || len(rep.Reindexed) > 0 {
		log.Warn("recovered data directory", "torn_bytes", rep.TornBytes, "tmp_removed", rep.TmpRemoved, "health_tmp_removed", rep.HealthTmpRemoved, "relinked", len(rep.Relinked), "reindexed", len(rep.Reindexed))
	}
	for _, r := range rep.Reindexed {
		log.Warn("re-indexed stored file without a row", "id", r.ID, "sha256", r.SHA256)
	}
	// Start-up recovery read the whole index and store/; hand the memory that
	// scan used back to the system at once, so the idle footprint does not
	// follow the number of stored episodes.
	debug.FreeOSMemory()

	var extraMetrics func(io.Writer)
	if cfg.Replica.Enabled() {
		ro := replica.Options{DataDir: dataDir, Config: cfg.Replica, Store: st, Logger: log,
			Uploading: func() int64 {
				if h := handler.Load(); h != nil {
					return h.UploadsInFlight()
				}
				return 0
			}}
		if o.replica != nil {
			o.replica(&ro)
		}
		r, err := replica.New(ro)
		if err != nil {
			return err
		}
		defer r.Close()
		replicator.Store(r)
		extraMetrics = r.WriteMetrics
		rctx, stop := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { r.Run(rctx); close(done) }()
		// Stop replicating before the store closes (defers run last first).
		defer func() { stop(); <-done }()
	}

	attempts, err := api.OpenAttemptsLog(datadir.New(dataDir), cfg.Server.AttemptsMaxBytes)
	if err != nil {
		return err
	}
	defer attempts.Close()

	ln, err := net.Listen("tcp", cfg.Server.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	loopback := isLoopback(ln.Addr())
	auth, err := api.LoadAuth(cfg.Auth, loopback, log)
	if err != nil {
		ln.Close()
		return err
	}
	reg, stopReg, err := startRegistry(ctx, dataDir, log)
	if err != nil {
		ln.Close()
		return err
	}
	defer stopReg()
	auth.UseRegistry(reg)
	switch {
	case auth.TokensConfigured():
	case auth.SubjectHeader() != "":
		log.Info("no bearer token configured: clients are identified by the client certificate subject header alone", "header", auth.SubjectHeader())
	case cfg.TLS.ClientCAFile != "":
		log.Info("no bearer token configured: clients are identified by their client certificate alone")
	default:
		log.Warn("no token configured: authentication is off (loopback trials only)")
	}
	fleetCA, err := loadFleetCA(cfg.PKI, log)
	if err != nil {
		ln.Close()
		return err
	}

	gate, gateStats, stopGate, err := startGate(ctx, cfg.VersionGate, log)
	if err != nil {
		ln.Close()
		return err
	}
	defer stopGate()

	h := api.New(api.Options{
		Store:                st,
		Gate:                 gate,
		GateStats:            gateStats,
		Auth:                 auth,
		MaxBodyBytes:         cfg.Server.MaxBodyBytes,
		MinFreeBytes:         cfg.Server.MinFreeBytes,
		MaxConcurrentUploads: cfg.Server.MaxConcurrentUploads,
		BodyIdleTimeout:      time.Duration(cfg.Server.BodyIdleTimeoutS) * time.Second,
		MinBodyRate:          cfg.Server.MinBodyRate,
		MaxHosts:             cfg.Server.MaxHosts,
		Attempts:             attempts,
		Releases:             releases.Open(dataDir),
		ReleaseKeyFile:       cfg.Releases.PublicKeyFile,
		Fleet:                func() (any, error) { return fleetview.Build(cfg, dataDir, time.Now()) },
		PKI:                  fleetCA,
		Registry:             reg,
		RequireClientCert:    cfg.TLS.ClientCAFile != "",
		Version:              buildinfo.Version,
		Logger:               log,
		ExtraMetrics:         extraMetrics,
	})
	handler.Store(h)
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	scheme := "http"
	if cfg.TLS.CertFile != "" {
		tlsCfg, err := newTLSConfig(cfg.TLS, log)
		if err != nil {
			ln.Close()
			return err
		}
		ln = api.JSONErrors(ln, tlsCfg)
		srv.Handler = api.WithTLSState(h)
		srv.ConnContext = api.TLSConnContext
		scheme = "https"
	} else {
		ln = api.JSONErrors(ln, nil)
	}

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("listening", "addr", ln.Addr().String(), "scheme", scheme, "data_dir", dataDir, "version", buildinfo.Version, "procs", runtime.GOMAXPROCS(0))
	if o.bound != nil {
		o.bound <- ln.Addr()
	}
	if err := o.notify.Notify(sdnotify.Ready + "\n" + sdnotify.Status("listening on "+ln.Addr().String())); err != nil {
		log.Warn("sd_notify failed", "error", err)
	}

	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	_ = o.notify.Notify(sdnotify.Stopping)
	log.Info("stopping: draining uploads")
	sctx, cancel := context.WithTimeout(context.Background(), drainTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("drain timed out; closing connections", "error", err)
		srv.Close()
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	log.Info("stopped")
	return nil
}

func isLoopback(a net.Addr) bool {
	ta, ok := a.(*net.TCPAddr)
	return ok && ta.IP.IsLoopback()
}
