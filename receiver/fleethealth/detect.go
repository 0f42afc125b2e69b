package fleethealth

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"cis490/internal/index"
	"cis490/internal/wire"
	"cis490/receiver/replicalog"
)

// key identifies an alert within one hour bucket.
type key struct{ host, symptom string }

// finding is a symptom found by evaluate, before dedup.
type finding struct {
	host, symptom, detail string
}

// hostState gathers what the tails say about one host.
type hostState struct {
	lastStored  time.Time      // newest stored episode within active_window_s
	lastAttempt time.Time      // newest attempt within the attempts horizon
	refused     int            // 4xx attempts within fatal_window_s
	answered    int            // other answered attempts (status ≠ 0) within fatal_window_s
	codes       map[string]int // "412 commit-not-in-window" → count, for the detail
	unstamped   int            // attempts without a commit within fatal_window_s
	unstampedID string         // the newest of those
}

// evaluate reads the tails and returns the symptoms present at o.Now,
// sorted by host and symptom. Rows stamped after o.Now are ignored, so a run
// with an earlier --now sees the fleet as it was then.
func evaluate(o Options) ([]finding, error) {
	cfg, now := o.Config, o.Now
	sec := func(n int) time.Duration { return time.Duration(n) * time.Second }
	active, silentAfter := sec(cfg.ActiveWindowS), sec(cfg.SilentAfterS)
	fatalWindow, healthMax := sec(cfg.FatalWindowS), sec(cfg.HealthMaxAgeS)

	hosts := make(map[string]*hostState)
	get := func(h string) *hostState {
		s := hosts[h]
		if s == nil {
			s = &hostState{codes: make(map[string]int)}
			hosts[h] = s
		}
		return s
	}

	err := readIndex(o.DataDir, now.Add(-active-Slack), func(host string, at time.Time) {
		if at.After(now) || now.Sub(at) > active {
			return
		}
		if s := get(host); at.After(s.lastStored) {
			s.lastStored = at
		}
	})
	if err != nil {
		return nil, err
	}

	// The attempts horizon covers both the quiet threshold and the fatal
	// window; a host quiet for the whole horizon is quiet for longer than
	// silent_after_s.
	horizon := max(silentAfter, fatalWindow)
	err = readAttempts(o.DataDir, now.Add(-horizon-Slack), func(a index.Attempt, at time.Time) {
		if at.After(now) {
			return
		}
		s := get(a.Host)
		if at.After(s.lastAttempt) {
			s.lastAttempt = at
		}
		if now.Sub(at) > fatalWindow {
			return
		}
		switch {
		case a.Status >= 400 && a.Status < 500:
			s.refused++
			s.codes[strings.TrimSpace(fmt.Sprintf("%d %s", a.Status, a.Error))]++
		case a.Status != 0:
			// Status 0 (aborted: the body never arrived) is no answer
			// about the episode, so it neither counts nor clears.
			s.answered++
		}
		if a.Commit == "" {
			if s.unstamped == 0 {
				s.unstampedID = a.ID // rows arrive newest first
			}
			s.unstamped++
		}
	})
	if err != nil {
		return nil, err
	}

	health, err := readHealth(o.DataDir)
	if err != nil {
		return nil, err
	}
	expected := make(map[string]bool, len(cfg.ExpectedHosts))
	for _, h := range cfg.ExpectedHosts {
		expected[h] = true
		get(h)
	}
	for h := range health {
		get(h)
	}

	var out []finding
	add := func(host, symptom, format string, args ...any) {
		out = append(out, finding{host, symptom, fmt.Sprintf(format, args...)})
	}
	for host, s := range hosts {
		if !s.lastStored.IsZero() || expected[host] {
			var why string
			switch {
			case !s.lastStored.IsZero():
				why = "last stored episode " + ago(now, s.lastStored)
			default:
				why = "listed in expected_hosts, no stored episode in the last " + human(active)
			}
			// A stored episode was an attempt too, even if the attempts
			// log has lost it (rotation, an older receiver).
			last := s.lastAttempt
			if s.lastStored.After(last) {
				last = s.lastStored
			}
			switch {
			case last.IsZero():
				add(host, SymptomSilent, "no upload attempt in the last %s; %s", human(horizon), why)
			case now.Sub(last) > silentAfter:
				add(host, SymptomSilent, "no upload attempt for %s (last %s); %s",
					human(now.Sub(last)), formatTS(last), why)
			}
		}
		if s.refused >= cfg.FatalMinAttempts && s.refused > 0 && s.answered == 0 {
			add(host, SymptomFatalOnly, "%d attempt(s) in the last %s, every one refused: %s",
				s.refused, human(fatalWindow), codeSummary(s.codes))
		}
		if s.unstamped > 0 {
			add(host, SymptomUnstamped, "%d attempt(s) without X-Cis490-Code-Commit in the last %s (latest id=%s)",
				s.unstamped, human(fatalWindow), s.unstampedID)
		}
		at, reported := health[host]
		switch {
		case reported && now.Sub(at) > healthMax:
			add(host, SymptomStaleHealth, "last health report %s (limit %s)", ago(now, at), human(healthMax))
		case !reported && expected[host]:
			add(host, SymptomStaleHealth, "no health report received (listed in expected_hosts)")
		}
	}
	if o.Replicating {
		if err := replicaLag(o, add); err != nil {
			return nil, err
		}
	}
	slices.SortFunc(out, func(a, b finding) int {
		return cmp.Or(cmp.Compare(a.host, b.host), cmp.Compare(symptomRank(a.symptom), symptomRank(b.symptom)))
	})
	return out, nil
}

// codeSummary renders refusal counts as "412 commit-not-in-window ×3, …",
// most frequent first.
func codeSummary(codes map[string]int) string {
	keys := make([]string, 0, len(codes))
	for k := range codes {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int {
		return cmp.Or(cmp.Compare(codes[b], codes[a]), cmp.Compare(a, b))
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s ×%d", k, codes[k])
	}
	return strings.Join(parts, ", ")
}

// ago renders the age of t at now with its timestamp.
func ago(now, t time.Time) string {
	return fmt.Sprintf("%s ago (%s)", human(now.Sub(t)), formatTS(t))
}

// human renders a duration for a detail: "45s", "31m", "2h5m", "3d4h".
func human(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d/time.Minute))
	case d < 24*time.Hour:
		h, m := int(d/time.Hour), int(d%time.Hour/time.Minute)
		if m == 0 {
			return fmt.Sprintf("%dh", h)
		}
		return fmt.Sprintf("%dh%dm", h, m)
	default:
		days, h := int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour)
		if h == 0 {
			return fmt.Sprintf("%dd", days)
		}
		return fmt.Sprintf("%dd%dh", days, h)
	}
}

// replicaLag adds the replica-lag symptom when the replicator's last
// published state (its status file: one small read, whatever the index's
// length) names a pending episode received more than replica_max_lag_s
// before the check. A receiver that stopped publishing leaves its last
// state, whose oldest pending episode only grows older.
func replicaLag(o Options, add func(host, symptom, format string, args ...any)) error {
	st, found, err := replicalog.ReadStatus(o.DataDir)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrInput, err)
	}
	if !found || st.OldestPendingAt == "" {
		return nil
	}
	oldest, err := wire.ParseTime(st.OldestPendingAt)
	if err != nil {
		return nil
	}
	limit := time.Duration(o.Config.ReplicaMaxLagS) * time.Second
	if lag := o.Now.Sub(oldest); lag > limit {
		detail := fmt.Sprintf("oldest episode not in the bucket received %s (limit %s); %d pending (%d bytes)",
			ago(o.Now, oldest), human(limit), st.Pending, st.PendingBytes)
		if e := st.LastError; e != nil {
			detail += fmt.Sprintf("; last error %s %s: %s", e.At, e.Kind, e.Detail)
		}
		add(ReceiverHost, SymptomReplicaLag, "%s", detail)
	}
	return nil
}
