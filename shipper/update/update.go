// Package update is `cis490-shipper update` (SPEC §15): it brings a lab
// host to the receiver's current signed release and keeps the experiment
// code's checkout on its branch. The running (old) binary verifies
// everything the new release brings before anything is stopped: the
// manifest's signature, seq, expiry and arch, the artifact's size and
// sha256, a safe unpack and its SHA256SUMS, the new shipper's --version and
// its check-config of the host's config. Then the new release's own
// installer runs, a health window watches the shipper, and a failure runs
// the previous release's installer again. Every step is recorded in
// /var/lib/cis490-update/state.json first, so a run killed at any instant
// is finished or rolled back by the next.
package update

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"cis490/internal/atomicio"
	"cis490/internal/config"
	"cis490/internal/release"
	"cis490/internal/wire"
)

// Statuses of a run (SPEC §15 JSON "status"). Eligible is the answer of
// --check when the host would update now.
const (
	StatusCurrent    = "current"
	StatusWaiting    = "waiting"
	StatusEligible   = "eligible"
	StatusUpdated    = "updated"
	StatusRolledBack = "rolled-back"
	StatusRefused    = "refused"
	StatusFailed     = "failed"
	StatusOff        = "off"
)

// Host paths, relative to Engine.Root.
const (
	HomeDir     = "/opt/cis490"
	ReleasesDir = "/opt/cis490/releases"
	ShipperBin  = "/usr/local/bin/cis490-shipper"
	ShipperUnit = "cis490-shipper.service"
	installer   = "scripts/install-lab-host.sh"
)

// Client is what update needs of the receiver (transport.Client).
type Client interface {
	Get(ctx context.Context, path string, limit int64) ([]byte, error)
	GetIfNoneMatch(ctx context.Context, path, etag string, limit int64) ([]byte, bool, error)
	Download(ctx context.Context, path string, offset int64, w io.Writer) error
	Ping(ctx context.Context, commit string) (wire.PingReply, error)
}

// Engine runs updates on one host.
type Engine struct {
	Cfg        config.Update
	HostID     string
	Arch       string // GOARCH of this host
	ConfigPath string // the lab-host.toml the services use, passed to check-config
	Client     Client
	// Root prefixes every host path (DESTDIR of the installers; "" on a
	// host). The installers run with the caller's environment, DESTDIR and
	// SYSTEMCTL included.
	Root string
	// Systemctl is the systemctl command line (default "systemctl").
	Systemctl []string
	Check     bool // --check: decide, change nothing
	Now       func() time.Time
	// Sleep waits in the health window; nil: a timer.
	Sleep func(ctx context.Context, d time.Duration) error
	Log   *slog.Logger
	// Hook, if set, is called with each step's name right after the step
	// was recorded (crash tests kill the process there).
	Hook func(step string)
}

// Result is the outcome of a run; see JSON.
type Result struct {
	Status     string
	Installed  string
	Available  string
	EligibleAt time.Time
	Err        string
	Code       CodeResult
}

// JSON is the --json document of SPEC §15; absent values are null.
func (r Result) JSON() map[string]any {
	orNil := func(s string) any {
		if s == "" {
			return nil
		}
		return s
	}
	elig := any(nil)
	if !r.EligibleAt.IsZero() {
		elig = wire.FormatTime(r.EligibleAt)
	}
	return map[string]any{
		"status": r.Status, "installed": orNil(r.Installed), "available": orNil(r.Available),
		"eligible_at": elig, "error": orNil(r.Err),
		"code": map[string]any{"status": r.Code.Status, "head": orNil(r.Code.Head)},
	}
}

// ExitCode is the run's exit code: 3 when the operator must act (a refusal,
// a rollback, a dirty or diverged checkout), else 1 for a transient
// failure, else 0.
func (r Result) ExitCode() int {
	switch {
	case r.Status == StatusRefused || r.Status == StatusRolledBack ||
		r.Code.Status == CodeDirty || r.Code.Status == CodeDiverged:
		return 3
	case r.Status == StatusFailed || r.Code.Status == CodeFailed:
		return 1
	}
	return 0
}

func (e *Engine) defaults() {
	if e.Now == nil {
		e.Now = time.Now
	}
	if e.Log == nil {
		e.Log = slog.New(slog.DiscardHandler)
	}
	if len(e.Systemctl) == 0 {
		e.Systemctl = []string{"systemctl"}
	}
}

func (e *Engine) path(p string) string { return filepath.Join(e.Root, p) }

func (e *Engine) statePath() string { return e.path(filepath.Join(StateDir, StateFile)) }

func (e *Engine) hook(step string) {
	if e.Hook != nil {
		e.Hook(step)
	}
}

// Run runs one update: the release, then the code checkout.
func (e *Engine) Run(ctx context.Context) Result {
	e.defaults()
	if !e.Cfg.Enabled {
		return Result{Status: StatusOff, Code: CodeResult{Status: CodeOff}}
	}
	var res Result
	st, err := LoadState(e.statePath())
	if err != nil {
		return Result{Status: StatusFailed, Err: err.Error(), Code: CodeResult{Status: CodeOff}}
	}
	if e.Check {
		res = e.release(ctx, &st)
		res.Code = e.codeStatusOnly(ctx)
		return res
	}
	unlock, err := lockState(e.path(StateDir))
	if err != nil {
		return Result{Status: StatusFailed, Err: err.Error(), Code: CodeResult{Status: CodeOff}}
	}
	defer unlock()
	if st.Pending != nil {
		res = e.recover(ctx, &st)
	} else {
		res = e.release(ctx, &st)
	}
	res.Code = e.followCode(ctx)
	now := wire.FormatTime(e.Now())
	st.LastRunAt, st.LastStatus, st.LastError = now, res.Status, res.Err
	if res.Status != StatusFailed && res.Status != StatusRefused && res.Status != StatusRolledBack {
		st.LastSuccessAt = now
	}
	st.CodeStatus, st.CodeHead = res.Code.Status, res.Code.Head
	if err := st.save(e.statePath()); err != nil && res.Err == "" {
		res.Status, res.Err = StatusFailed, err.Error()
	}
	return res
}

// lockState takes an exclusive flock in dir: one update at a time.
func lockState(dir string) (func(), error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	unlock, err := atomicio.TryLock(filepath.Join(dir, ".lock"), 0o644)
	if errors.Is(err, atomicio.ErrLocked) {
		return nil, fmt.Errorf("another update is running (%w)", err)
	}
	return unlock, err
}

func refused(res Result, format string, args ...any) Result {
	res.Status, res.Err = StatusRefused, fmt.Sprintf(format, args...)
	return res
}

func failed(res Result, err error) Result {
	res.Status, res.Err = StatusFailed, err.Error()
	return res
}

// Names of the last verified manifest and its signature in StateDir: with
// them a run with nothing new costs one bodiless 304.
const (
	cachedManifest = "manifest.json"
	cachedSig      = "manifest.json.sig"
)

// fetchManifest fetches and verifies the current manifest. The last one
// verified is kept beside the state; the request carries its sha256 as
// If-None-Match, and a 304 verifies the kept copy again instead of fetching
// the manifest and its signature.
func (e *Engine) fetchManifest(ctx context.Context) (release.Manifest, []byte, error) {
	dir := e.path(StateDir)
	etag := ""
	oldM, err1 := os.ReadFile(filepath.Join(dir, cachedManifest))
	oldSig, err2 := os.ReadFile(filepath.Join(dir, cachedSig))
	if err1 == nil && err2 == nil {
		sum := sha256.Sum256(oldM)
		etag = `"` + hex.EncodeToString(sum[:]) + `"`
	}
	mb, same, err := e.Client.GetIfNoneMatch(ctx, wire.ReleaseCurrentPath, etag, release.MaxManifestBytes)
	if err != nil {
		return release.Manifest{}, nil, err
	}
	sig := oldSig
	if same {
		mb = oldM
	} else {
		if sig, err = e.Client.Get(ctx, wire.ReleaseSigPath, 4096); err != nil {
			return release.Manifest{}, nil, err
		}
	}
	// The key is needed only once there is a release: a host without one
	// and a receiver without releases are simply current.
	pub, err := release.LoadPublicKey(e.path(e.Cfg.PublicKeyFile))
	if err != nil {
		return release.Manifest{}, nil, fmt.Errorf("%w: %v", release.ErrBadSignature, err)
	}
	m, err := release.Verify(pub, mb, sig)
	if err == nil && !same && !e.Check {
		if os.MkdirAll(dir, 0o755) == nil {
			_ = atomicio.WriteFile(filepath.Join(dir, cachedSig), sig, 0o644)
			_ = atomicio.WriteFile(filepath.Join(dir, cachedManifest), mb, 0o644)
		}
	}
	return m, mb, err
}

// release runs steps 1–5 of SPEC §15 for a host with no update pending.
func (e *Engine) release(ctx context.Context, st *State) Result {
	res := Result{Installed: e.installedVersion(ctx)}
	m, _, err := e.fetchManifest(ctx)
	var we *wire.Error
	switch {
	case errors.As(err, &we) && we.Code == wire.CodeNoRelease:
		res.Status = StatusCurrent
		return res
	case errors.Is(err, release.ErrBadSignature) || errors.Is(err, release.ErrBadManifest):
		return refused(res, "%v", err)
	case err != nil:
		return failed(res, err)
	}
	res.Available = m.Version
	if m.Seq < st.LastSeq {
		return refused(res, "manifest seq %d is below %d, already accepted here (a replay)", m.Seq, st.LastSeq)
	}
	if m.Expired(e.Now()) {
		return refused(res, "manifest of %s expired at %s", m.Version, m.ExpiresAt)
	}
	art, ok := m.Artifacts[release.ArchKey(e.Arch)]
	if !ok {
		return refused(res, "release %s has no artifact for %s", m.Version, release.ArchKey(e.Arch))
	}
	if res.Installed == m.Version {
		e.accept(st, m)
		res.Status = StatusCurrent
		return res
	}
	cfgSHA := fileSHA(e.ConfigPath)
	if f, ok := st.failedBefore(m.Version, cfgSHA); ok {
		return refused(res, "%s failed here before (%s at %s); publish a fixed release", m.Version, f.Reason, f.At)
	}
	if !e.Check {
		e.accept(st, m)
	}
	res.EligibleAt = m.EligibleAt(e.HostID, e.Cfg.Ring)
	if e.Now().Before(res.EligibleAt) {
		res.Status = StatusWaiting
		return res
	}
	if e.Check {
		res.Status = StatusEligible
		return res
	}

	st.Pending = &Pending{Step: StepStaging, Version: m.Version, Seq: m.Seq, Previous: res.Installed,
		StartedAt: wire.FormatTime(e.Now())}
	if err := st.save(e.statePath()); err != nil {
		st.Pending = nil
		return failed(res, err)
	}
	e.hook(StepStaging)
	dir, err := e.stage(ctx, m, art)
	if err != nil {
		st.Pending = nil
		if errors.Is(err, errTransient) {
			return failed(res, err)
		}
		return refused(res, "%v", err)
	}
	if reason := e.vet(ctx, dir, m.Version); reason != "" {
		st.Pending = nil
		st.remember(Failure{Version: m.Version, Reason: reason, At: wire.FormatTime(e.Now()), ConfigSHA256: cfgSHA})
		_ = os.RemoveAll(dir)
		return refused(res, "%s", reason)
	}
	if err := e.keepPrevious(res.Installed); err != nil {
		e.Log.Warn("the installed release could not be kept for a rollback", "error", err)
	}
	return e.install(ctx, st, res)
}

// accept records m's seq as the highest seen and its expiry for the doctor.
func (e *Engine) accept(st *State, m release.Manifest) {
	st.LastSeq = max(st.LastSeq, m.Seq)
	st.ExpiresAt = m.ExpiresAt
}

// install runs the new release's installer and the health window; a failure
// rolls back.
func (e *Engine) install(ctx context.Context, st *State, res Result) Result {
	p := st.Pending
	p.RestartsBefore = e.restarts(ctx)
	_, err := e.Client.Ping(ctx, "")
	p.PingOKBefore = err == nil
	p.Step = StepInstalling
	if err := st.save(e.statePath()); err != nil {
		st.Pending = nil
		return failed(res, err)
	}
	e.hook(StepInstalling)
	return e.finish(ctx, st, res)
}

// finish runs (or re-runs, after a crash) the installer of the pending
// version and its health window.
func (e *Engine) finish(ctx context.Context, st *State, res Result) Result {
	p := st.Pending
	dir := e.path(filepath.Join(ReleasesDir, p.Version))
	if err := CheckSums(dir); err != nil {
		return e.rollback(ctx, st, res, fmt.Sprintf("staged release unusable: %v", err))
	}
	if out, err := e.runCmd(ctx, filepath.Join(dir, installer)); err != nil {
		return e.rollback(ctx, st, res, fmt.Sprintf("installer failed: %v: %s", err, lastLine(out)))
	}
	p.Step = StepHealth
	if err := st.save(e.statePath()); err != nil {
		return e.rollback(ctx, st, res, err.Error())
	}
	e.hook(StepHealth)
	if reason := e.healthWindow(ctx, p); reason != "" {
		return e.rollback(ctx, st, res, reason)
	}
	st.Previous, st.Installed = p.Previous, p.Version
	st.Pending = nil
	e.prune(st.Installed, st.Previous)
	res.Status, res.Installed = StatusUpdated, p.Version
	e.Log.Info("updated", "version", p.Version, "previous", p.Previous)
	return res
}

// rollback runs the previous release's installer again and remembers the
// pending version as failed.
func (e *Engine) rollback(ctx context.Context, st *State, res Result, reason string) Result {
	p := st.Pending
	p.Step, p.RollbackPending = StepRollingBack, reason
	if err := st.save(e.statePath()); err != nil {
		e.Log.Error("update state", "error", err)
	}
	e.hook(StepRollingBack)
	e.Log.Error("update failed; rolling back", "version", p.Version, "previous", p.Previous, "reason", reason)
	res.Status, res.Err = StatusRolledBack, fmt.Sprintf("%s: %s", p.Version, reason)
	if p.Previous == "" {
		res.Err += "; no previous release to go back to"
	} else {
		prev := e.path(filepath.Join(ReleasesDir, p.Previous))
		if out, err := e.runCmd(ctx, filepath.Join(prev, installer)); err != nil {
			res.Err += fmt.Sprintf("; the previous release's installer failed too: %v: %s", err, lastLine(out))
		}
	}
	st.remember(Failure{Version: p.Version, Reason: reason, At: wire.FormatTime(e.Now())})
	st.Installed = p.Previous
	st.Pending = nil
	res.Installed = p.Previous
	e.prune(p.Previous, st.Previous)
	return res
}

// recover finishes or undoes the update a killed run left pending.
func (e *Engine) recover(ctx context.Context, st *State) Result {
	p := st.Pending
	res := Result{Installed: e.installedVersion(ctx), Available: p.Version}
	e.Log.Warn("resuming an interrupted update", "version", p.Version, "step", p.Step)
	switch p.Step {
	case StepInstalling, StepHealth:
		return e.finish(ctx, st, res)
	case StepRollingBack:
		return e.rollback(ctx, st, res, p.RollbackPending)
	}
	// Staging: nothing was installed; start over.
	_ = os.RemoveAll(e.path(filepath.Join(ReleasesDir, ".unpack-"+p.Version)))
	st.Pending = nil
	if err := st.save(e.statePath()); err != nil {
		return failed(res, err)
	}
	return e.release(ctx, st)
}

// installedVersion asks the installed shipper binary for its version; ""
// when there is none or it does not answer.
func (e *Engine) installedVersion(ctx context.Context) string {
	out, err := e.output(ctx, e.path(ShipperBin), "--version")
	if err != nil {
		return ""
	}
	return parseVersion(out)
}

// parseVersion reads "cis490-shipper <version> (commit …)".
func parseVersion(out string) string {
	f := strings.Fields(out)
	if len(f) < 2 || f[0] != "cis490-shipper" {
		return ""
	}
	return f[1]
}

// vet runs the staged release's own shipper: --version must name the
// manifest's version, and check-config must accept this host's config.
// It returns the reason for refusing the release, or "".
func (e *Engine) vet(ctx context.Context, dir, version string) string {
	bin := filepath.Join(dir, "bin", "cis490-shipper")
	out, err := e.output(ctx, bin, "--version")
	if err != nil {
		return fmt.Sprintf("the new cis490-shipper --version failed: %v", err)
	}
	if got := parseVersion(out); got != version {
		return fmt.Sprintf("the new cis490-shipper says version %q, the manifest %q", got, version)
	}
	args := []string{"check-config"}
	if e.ConfigPath != "" {
		args = append(args, "--config", e.ConfigPath)
	}
	if out, err := e.output(ctx, bin, args...); err != nil {
		return fmt.Sprintf("the new release does not accept this host's config (check-config: %v: %s)", err, lastLine(out))
	}
	return ""
}

// keepPrevious makes sure the installed release can be installed again: a
// copy under releases/<version>/ of what the installer keeps in
// /opt/cis490 (the files its SHA256SUMS lists).
func (e *Engine) keepPrevious(version string) error {
	if version == "" {
		return nil
	}
	dst := e.path(filepath.Join(ReleasesDir, version))
	if CheckSums(dst) == nil {
		return nil
	}
	home := e.path(HomeDir)
	sums, err := os.ReadFile(filepath.Join(home, "SHA256SUMS"))
	if err != nil {
		return fmt.Errorf("no release copy in %s: %w", HomeDir, err)
	}
	tmp := e.path(filepath.Join(ReleasesDir, ".keep-"+version))
	_ = os.RemoveAll(tmp)
	files := []string{"SHA256SUMS"}
	for _, line := range strings.Split(strings.TrimSpace(string(sums)), "\n") {
		if _, name, ok := strings.Cut(line, "  "); ok {
			files = append(files, name)
		}
	}
	for _, f := range files {
		if strings.Contains(f, "..") || strings.HasPrefix(f, "/") {
			return fmt.Errorf("SHA256SUMS names %q", f)
		}
		if err := copyFile(filepath.Join(home, f), filepath.Join(tmp, f)); err != nil {
			return err
		}
	}
	if err := CheckSums(tmp); err != nil {
		_ = os.RemoveAll(tmp)
		return err
	}
	_ = os.RemoveAll(dst)
	return os.Rename(tmp, dst)
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	fi, err := in.Stat()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, fi.Mode().Perm())
	if err != nil {
		return err
	}
	if err := out.Chmod(fi.Mode().Perm()); err != nil { // whatever the umask
		out.Close()
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// prune keeps the two named releases under releases/ and removes the rest,
// leftovers of interrupted downloads and unpacks included (it runs once an
// update has ended).
func (e *Engine) prune(keep ...string) {
	root := e.path(ReleasesDir)
	ents, err := os.ReadDir(root)
	if err != nil {
		return
	}
	for _, d := range ents {
		n := d.Name()
		kept := false
		for _, k := range keep {
			kept = kept || (k != "" && k == n)
		}
		if !kept {
			_ = os.RemoveAll(filepath.Join(root, n))
		}
	}
}

// restarts is cis490-shipper's NRestarts, "" when systemd cannot say.
func (e *Engine) restarts(ctx context.Context) string {
	args := append(e.Systemctl[1:len(e.Systemctl):len(e.Systemctl)], "show", "-p", "NRestarts", "--value", ShipperUnit)
	out, err := e.output(ctx, e.Systemctl[0], args...)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(out)
}

func (e *Engine) active(ctx context.Context) bool {
	args := append(e.Systemctl[1:len(e.Systemctl):len(e.Systemctl)], "is-active", "--quiet", ShipperUnit)
	_, err := e.output(ctx, e.Systemctl[0], args...)
	return err == nil
}

// healthWindow watches the shipper for health_s: it stays active, systemd
// does not restart it, and --ping still works if it did before (a receiver
// that is down for everyone is not the release's fault). It returns the
// reason the release is unhealthy, or "".
func (e *Engine) healthWindow(ctx context.Context, p *Pending) string {
	window := time.Duration(e.Cfg.HealthS) * time.Second
	step := min(5*time.Second, window)
	for waited := time.Duration(0); ; waited += step {
		if !e.active(ctx) {
			return ShipperUnit + " is not active"
		}
		if r := e.restarts(ctx); r != p.RestartsBefore {
			return fmt.Sprintf("systemd restarted %s (NRestarts %s, was %s)", ShipperUnit, r, p.RestartsBefore)
		}
		if waited >= window {
			break
		}
		if err := e.sleep(ctx, step); err != nil {
			return "interrupted: " + err.Error()
		}
	}
	if !p.PingOKBefore {
		return ""
	}
	args := []string{"--ping"}
	if e.ConfigPath != "" {
		args = append(args, "--config", e.ConfigPath)
	}
	if out, err := e.output(ctx, e.path(ShipperBin), args...); err != nil {
		if _, perr := e.Client.Ping(ctx, ""); perr != nil {
			e.Log.Warn("receiver unreachable during the health window; not held against the release", "error", perr)
			return ""
		}
		return fmt.Sprintf("cis490-shipper --ping fails with the new release: %s", lastLine(out))
	}
	return ""
}

func (e *Engine) sleep(ctx context.Context, d time.Duration) error {
	if e.Sleep != nil {
		return e.Sleep(ctx, d)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// output runs a command and returns its combined output (at most 64 KiB).
func (e *Engine) output(ctx context.Context, name string, args ...string) (string, error) {
	cctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(cctx, name, args...)
	var buf capped
	cmd.Stdout, cmd.Stderr = &buf, &buf
	err := cmd.Run()
	return buf.String(), err
}

// runCmd runs an installer, logging its output.
func (e *Engine) runCmd(ctx context.Context, name string, args ...string) (string, error) {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(cctx, name, args...)
	var buf capped
	cmd.Stdout, cmd.Stderr = &buf, &buf
	err := cmd.Run()
	e.Log.Info("ran", "cmd", name, "error", err)
	return buf.String(), err
}

// capped keeps the last 64 KiB written to it.
type capped struct{ b bytes.Buffer }

func (c *capped) Write(p []byte) (int, error) {
	c.b.Write(p)
	if c.b.Len() > 64<<10 {
		rest := c.b.Bytes()[c.b.Len()-32<<10:]
		c.b = *bytes.NewBuffer(append([]byte(nil), rest...))
	}
	return len(p), nil
}

func (c *capped) String() string { return c.b.String() }

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	if len(s) > 300 {
		s = s[:300]
	}
	return s
}

// fileSHA is the sha256 of a file's content, "" when unreadable.
func fileSHA(path string) string {
	if path == "" {
		path = config.LabHostPath
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
