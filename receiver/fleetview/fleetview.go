// Package fleetview is the receiver's one-screen view of the fleet (SPEC
// §16): one row per host known from the host registry, [auth.hosts],
// expected_hosts or recent activity, with its shipper's version, its recent
// episodes and attempts, its last health report, its current alerts and its
// certificate. Like fleet-health it reads only the recent tail of the index
// and the attempts log, so its cost does not grow with the index's length.
package fleetview

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"cis490/internal/config"
	"cis490/internal/index"
	"cis490/internal/jsonl"
	"cis490/internal/wire"
	"cis490/receiver/datadir"
	"cis490/receiver/hosthealth"
	"cis490/receiver/registry"
	"cis490/receiver/releases"
)

// Schema is the JSON document's schema number.
const Schema = 1

// Day is the window of the episodes_24h and bytes_24h counts.
const Day = 24 * time.Hour

// View is the --json document and the body of GET /v1/fleet.
type View struct {
	Schema      int      `json:"schema"`
	GeneratedAt string   `json:"generated_at"`
	Release     *Release `json:"release"`
	Hosts       []Host   `json:"hosts"`
}

// Release is the receiver's current published release.
type Release struct {
	Version string `json:"version"`
	Seq     int64  `json:"seq"`
}

// Host is one row. Pointers are null in JSON when unknown: a host with no
// episode within the window has no last episode, for instance.
type Host struct {
	Host            string   `json:"host"`
	Sources         []string `json:"sources"`
	Version         *string  `json:"version"`
	LastEpisodeAt   *string  `json:"last_episode_at"`
	LastEpisodeAgeS *int64   `json:"last_episode_age_s"`
	Episodes24h     int      `json:"episodes_24h"`
	Bytes24h        int64    `json:"bytes_24h"`
	LastAttempt     *Attempt `json:"last_attempt"`
	Health          *Health  `json:"health"`
	Alerts          []Alert  `json:"alerts"`
	CertNotAfter    *string  `json:"cert_not_after"`
	RevokedAt       *string  `json:"revoked_at"`

	rank int
}

// Attempt is a host's last episode upload attempt.
type Attempt struct {
	Status int    `json:"status"`
	Error  string `json:"error"`
	At     string `json:"at"`
	AgeS   int64  `json:"age_s"`
}

// Health is a host's last health report.
type Health struct {
	Overall    string `json:"overall"`
	ReceivedAt string `json:"received_at"`
	AgeS       int64  `json:"age_s"`
}

// Alert is a fleet-health alert of the current or the previous hour bucket.
type Alert struct {
	Symptom string `json:"symptom"`
	Detail  string `json:"detail"`
	Bucket  string `json:"bucket"`
	TS      string `json:"ts"`
}

// Sources of a host row.
const (
	SourceRegistry = "registry"
	SourceConfig   = "config"
	SourceExpected = "expected"
	SourceActive   = "active"
)

// Build assembles the view of the data directory at now.
func Build(cfg config.Receiver, dataDir string, now time.Time) (View, error) {
	now = now.UTC()
	v := View{Schema: Schema, GeneratedAt: wire.FormatTime(now), Hosts: []Host{}}
	if c, err := releases.Open(dataDir).Current(); err == nil {
		v.Release = &Release{Version: c.Parsed.Version, Seq: c.Parsed.Seq}
	} else if !errors.Is(err, releases.ErrNoRelease) {
		return v, fmt.Errorf("current release: %w", err)
	}
	hosts := map[string]*Host{}
	get := func(name, source string) *Host {
		h := hosts[name]
		if h == nil {
			h = &Host{Host: name, Alerts: []Alert{}}
			hosts[name] = h
		}
		if source != "" && !contains(h.Sources, source) {
			h.Sources = append(h.Sources, source)
		}
		return h
	}

	entries, _, err := registry.List(dataDir)
	if err != nil {
		return v, fmt.Errorf("host registry: %w", err)
	}
	for _, e := range entries {
		h := get(e.Host, SourceRegistry)
		if e.CertNotAfter != nil {
			h.CertNotAfter = ptr(wire.FormatTime(e.CertNotAfter.Time))
		}
		if e.RevokedAt != nil {
			h.RevokedAt = ptr(wire.FormatTime(e.RevokedAt.Time))
		}
	}
	for name := range cfg.Auth.Hosts {
		get(name, SourceConfig)
	}
	for _, name := range cfg.FleetHealth.ExpectedHosts {
		get(name, SourceExpected)
	}

	layout := datadir.New(dataDir)
	window := max(Day, time.Duration(cfg.FleetHealth.ActiveWindowS)*time.Second)
	stop := now.Add(-window)
	age := func(t time.Time) int64 { return int64(now.Sub(t) / time.Second) }
	if err := tail(layout.Index(), stop, func(line []byte) (time.Time, bool) {
		r, ok := index.ParseHead(line)
		if !ok {
			return time.Time{}, false
		}
		at, err := wire.ParseTime(r.ReceivedAt)
		if err != nil || r.Source == index.SourceBackfill || !wire.ValidHost(r.Host) || at.Before(stop) {
			return at, err == nil
		}
		h := get(r.Host, SourceActive)
		if h.LastEpisodeAt == nil {
			h.LastEpisodeAt, h.LastEpisodeAgeS = ptr(wire.FormatTime(at)), ptr(age(at))
		}
		if !at.Before(now.Add(-Day)) {
			h.Episodes24h++
			h.Bytes24h += r.Bytes
		}
		return at, true
	}); err != nil {
		return v, err
	}
	attempt := func(line []byte) (time.Time, bool) {
		a, ok := index.ParseAttempt(line)
		if !ok {
			return time.Time{}, false
		}
		at, err := wire.ParseTime(a.TS)
		if err != nil || !wire.ValidHost(a.Host) || at.Before(stop) {
			return at, err == nil
		}
		h := get(a.Host, SourceActive)
		if h.LastAttempt == nil {
			h.LastAttempt = &Attempt{Status: a.Status, Error: a.Error, At: wire.FormatTime(at), AgeS: age(at)}
		}
		if ver, ok := strings.CutPrefix(a.Agent, "cis490-shipper/"); ok && h.Version == nil && ver != "" {
			h.Version = ptr(ver)
		}
		return at, true
	}
	whole, err := tailWhole(layout.Attempts(), stop, attempt)
	if err != nil {
		return v, err
	}
	if whole {
		if _, err := tailWhole(layout.AttemptsRotated(), stop, attempt); err != nil {
			return v, err
		}
	}

	cur := now.Truncate(time.Hour)
	buckets := map[string]bool{bucket(cur): true, bucket(cur.Add(-time.Hour)): true}
	if err := tail(layout.Alerts(), cur.Add(-2*time.Hour), func(line []byte) (time.Time, bool) {
		var a struct {
			Alert
			Host string `json:"host"`
		}
		if json.Unmarshal(line, &a) != nil {
			return time.Time{}, false
		}
		ts, err := wire.ParseTime(a.TS)
		if h, ok := hosts[a.Host]; ok && buckets[a.Bucket] {
			h.Alerts = append([]Alert{a.Alert}, h.Alerts...)
		}
		return ts, err == nil
	}); err != nil {
		return v, err
	}

	if err := readHealth(layout.HostHealth(), func(host string, rep healthReport, at time.Time) {
		h, ok := hosts[host]
		if !ok {
			return // a report alone does not make a host part of the fleet
		}
		h.Health = &Health{Overall: rep.Overall, ReceivedAt: wire.FormatTime(at), AgeS: age(at)}
		if h.Version == nil && rep.Version != "" {
			h.Version = ptr(rep.Version)
		}
	}); err != nil {
		return v, err
	}

	for _, h := range hosts {
		sort.Strings(h.Sources)
		h.rank = rank(h)
		v.Hosts = append(v.Hosts, *h)
	}
	sort.Slice(v.Hosts, func(i, j int) bool {
		if v.Hosts[i].rank != v.Hosts[j].rank {
			return v.Hosts[i].rank > v.Hosts[j].rank
		}
		return v.Hosts[i].Host < v.Hosts[j].Host
	})
	return v, nil
}

// rank orders hosts worst first: revoked, then alerts, a failing last
// attempt, a failing or warning health report, nothing heard at all.
func rank(h *Host) int {
	r := 0
	if h.RevokedAt != nil {
		r += 1000
	}
	r += 100 * len(h.Alerts)
	if a := h.LastAttempt; a != nil && (a.Status == 0 || a.Status >= 400) {
		r += 50
	}
	if h.Health != nil {
		switch h.Health.Overall {
		case "fail":
			r += 40
		case "warn":
			r += 20
		}
	}
	if h.LastAttempt == nil && h.Health == nil {
		r += 10
	}
	return r
}

func bucket(t time.Time) string { return t.UTC().Format("2006-01-02T15") }

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func ptr[T any](v T) *T { return &v }

// tail visits path's lines newest first until a timed row older than stop.
func tail(path string, stop time.Time, visit func(line []byte) (time.Time, bool)) error {
	_, err := tailWhole(path, stop, visit)
	return err
}

// tailWhole is tail, reporting whether the whole file was read (so an
// older, rotated file may hold more).
func tailWhole(path string, stop time.Time, visit func(line []byte) (time.Time, bool)) (bool, error) {
	whole := true
	err := jsonl.ScanBackward(path, func(line []byte) error {
		ts, ok := visit(line)
		if ok && ts.Before(stop) {
			whole = false
			return jsonl.ErrStop
		}
		return nil
	})
	if errors.Is(err, os.ErrNotExist) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("read %s: %w", path, err)
	}
	return whole, nil
}

// healthReport is the part of a doctor report the view shows.
type healthReport struct {
	Overall string `json:"overall"`
	Version string `json:"version"`
}

// readHealth calls fn with each stored health report's host, overall status
// and time of receipt. Records that do not decode are skipped.
func readHealth(dir string, fn func(host string, rep healthReport, at time.Time)) error {
	return hosthealth.Each(dir, func(host string, rec hosthealth.Record, ok bool, _ time.Time) {
		var rep healthReport
		if !ok || json.Unmarshal(rec.Report, &rep) != nil {
			return
		}
		if at, err := wire.ParseTime(rec.ReceivedAt); err == nil {
			fn(host, rep, at)
		}
	})
}
