package main

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"time"
)

// report prints the throughput table and the targets as markdown.
func (s *suite) report(shapes []shape, rows int, arm64 string, startup bool) {
	w := s.stdout
	fmt.Fprintf(w, "\nMedian of %d runs, 1 GiB per run; small uploads: median of the slices, %d rounds of one slice per server; MB/s = 10^6 bytes/s.\n\n", s.reps, maxRounds(s.rounds))
	fmt.Fprintln(w, "| uploads | clients | hash | write | serial | receiver | receiver uploads/s | serial uploads/s | rest-server uploads/s | rest-verify uploads/s |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|")
	rate := func(sh shape, t string) (mbs, ups float64) {
		d := median(s.times[sh.name][t])
		if d == 0 {
			return 0, 0
		}
		return float64(sh.size) * float64(sh.count) / d.Seconds() / 1e6, float64(sh.count) / d.Seconds()
	}
	for _, sh := range shapes {
		if s.times[sh.name] == nil {
			continue
		}
		cells := []string{fmt.Sprintf("%d × %s", sh.count, sizeName(sh.size)), fmt.Sprint(sh.clients)}
		for _, t := range targets {
			mbs, _ := rate(sh, t)
			cells = append(cells, orDash(mbs, "%.0f MB/s"))
		}
		_, ru := rate(sh, "receiver")
		_, su := rate(sh, "serial")
		cells = append(cells, fmt.Sprintf("%.0f", ru), fmt.Sprintf("%.0f", su))
		for _, p := range peers {
			_, rs := rate(sh, p)
			cells = append(cells, orDash(rs, "%.0f"))
		}
		fmt.Fprintf(w, "| %s |\n", strings.Join(cells, " | "))
	}

	// CPU time is counted in 10 ms ticks, coarse against a slice of 32 MiB,
	// so the table gives the mean over all runs or slices, not a median.
	fmt.Fprint(w, "\nCPU seconds per GiB (mean over the runs or slices): server process / client (this program).\n\n")
	fmt.Fprintln(w, "| uploads | clients | hash | write | serial | receiver | rest-server | rest-verify |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|")
	for _, sh := range shapes {
		if s.times[sh.name] == nil {
			continue
		}
		cells := []string{fmt.Sprintf("%d × %s", sh.count, sizeName(sh.size)), fmt.Sprint(sh.clients)}
		gib := float64(sh.size) * float64(sh.count) / (1 << 30)
		for _, t := range append(targets[:len(targets):len(targets)], peers...) {
			if len(s.cpu[sh.name][t]) == 0 {
				cells = append(cells, "—")
				continue
			}
			cells = append(cells, fmt.Sprintf("%.2f / %.2f", mean(s.cpu[sh.name][t]).Seconds()/gib, mean(s.self[sh.name][t]).Seconds()/gib))
		}
		fmt.Fprintf(w, "| %s |\n", strings.Join(cells, " | "))
	}

	fmt.Fprintln(w, "\n| target | measured | goal | result |")
	fmt.Fprintln(w, "|---|---|---|---|")
	line := func(name, measured, goal string, ok bool) {
		res := "FAIL"
		if ok {
			res = "pass"
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s |\n", name, measured, goal, res)
	}
	// Each target's ratio is taken within each repetition (the four runs of
	// a repetition are seconds apart) and the median of those is judged; the
	// ratio of the medians is shown beside it. On a shared machine the
	// paired ratio is much less sensitive to load that comes and goes.
	for _, sh := range shapes {
		if s.times[sh.name] == nil {
			continue
		}
		tm := s.times[sh.name]
		var ratios []float64
		for rep := range tm["receiver"] {
			r := tm["receiver"][rep].Seconds()
			if sh.size == 64<<20 {
				ratios = append(ratios, max(tm["hash"][rep].Seconds(), tm["write"][rep].Seconds())/r)
			} else {
				ratios = append(ratios, tm["serial"][rep].Seconds()/r)
			}
		}
		slices.Sort(ratios)
		paired := medianOf(ratios)
		spread := fmt.Sprintf("%.2f–%.2f", ratios[0], ratios[len(ratios)-1])
		r, _ := rate(sh, "receiver")
		if sh.size == 64<<20 {
			h, _ := rate(sh, "hash")
			wr, _ := rate(sh, "write")
			line(fmt.Sprintf("64 MiB, %d client(s): receiver / min(hash, write)", sh.clients),
				fmt.Sprintf("%.2f (runs %s; ratio of medians %.2f)", paired, spread, r/min(h, wr)), "≥ 0.85", paired >= 0.85)
			continue
		}
		_, ru := rate(sh, "receiver")
		_, su := rate(sh, "serial")
		goal := 1.0
		if sh.clients > 1 {
			goal = 1.2
		}
		line(fmt.Sprintf("256 KiB, %d client(s): receiver / serial uploads/s", sh.clients),
			fmt.Sprintf("%.2f (runs %s; ratio of medians %.2f)", paired, spread, ru/su), fmt.Sprintf("≥ %.2f", goal), paired >= goal)
		for _, name := range peers {
			rt := tm[name]
			if len(rt) != len(tm["receiver"]) || len(rt) == 0 {
				continue
			}
			var peer []float64
			for rep := range rt {
				peer = append(peer, rt[rep].Seconds()/tm["receiver"][rep].Seconds())
			}
			slices.Sort(peer)
			p := medianOf(peer)
			_, rs := rate(sh, name)
			line(fmt.Sprintf("256 KiB, %d client(s): receiver / %s uploads/s", sh.clients, name),
				fmt.Sprintf("%.2f (runs %.2f–%.2f; ratio of medians %.2f)", p, peer[0], peer[len(peer)-1], ru/rs), "≥ 1.00", p >= 1)
		}
	}

	m := s.mem
	if s.times["64MiB-8"] != nil {
		peak := max(m.peakHWM, m.peakSampled)
		line("receiver peak RSS during 8 × 64 MiB (VmHWM, reset before each run)",
			fmt.Sprintf("%s (sampled VmRSS max %s)", mib(peak), mib(m.peakSampled)), "≤ 20 MiB", peak <= 20<<10)
	}
	line("receiver idle RSS 1 s after start (VmRSS)",
		fmt.Sprintf("%s (anon %s, file %s)", mib(m.idleStart.RSS), mib(m.idleStart.Anon), mib(m.idleStart.File)),
		"≤ 10 MiB", m.idleStart.RSS <= 10<<10)
	if startup {
		e, f := m.startup[0], m.startup[1]
		line(fmt.Sprintf("start-up to READY=1 with %d rows + files (median, max)", rows),
			fmt.Sprintf("%v, %v (empty: %v)", f.startup.Round(time.Millisecond), f.maxUp.Round(time.Millisecond), e.startup.Round(time.Millisecond)),
			"≤ 1 s", f.maxUp <= time.Second)
		grow := f.rss - e.rss
		line(fmt.Sprintf("idle RSS with %d rows − with 0 rows", rows),
			fmt.Sprintf("%+.1f MiB (%s vs %s; VmHWM %s vs %s)", float64(grow)/1024, mib(f.rss), mib(e.rss), mib(f.hwm), mib(e.hwm)),
			"≤ 2 MiB", grow <= 2<<10)
	}
	if arm64 != "" {
		if st, err := os.Stat(arm64); err == nil {
			line("stripped linux/arm64 binary", fmt.Sprintf("%s (%d bytes)", mib(st.Size()>>10), st.Size()), "≤ 8 MiB", st.Size() <= 8<<20)
		}
	}
	fmt.Fprintf(w, "\nReceiver VmRSS 3 s after the last upload: %s.\n", mib(m.idleAfterLoad.RSS))
	for _, sh := range shapes {
		if fl := s.flushes[sh.name]; len(fl) > 0 {
			fmt.Fprintf(w, "\nFlush latency during %s (before every round, same file system): %s.\n", sh.name, flushSummary(fl))
		}
	}
}

func mib(kib int64) string { return fmt.Sprintf("%.1f MiB", float64(kib)/1024) }

func sizeName(n int) string {
	if n >= 1<<20 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d KiB", n>>10)
}

func orDash(v float64, format string) string {
	if v == 0 {
		return "—"
	}
	return fmt.Sprintf(format, v)
}

func maxRounds(m map[string]int) int {
	n := 0
	for _, r := range m {
		n = max(n, r)
	}
	return n
}

// medianOf returns the median of sorted; of an even count, the mean of the
// two middle values, so that two runs never pass on the better one alone.
func medianOf(sorted []float64) float64 {
	n := len(sorted)
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}

// mean is the arithmetic mean of ds (0 for none).
func mean(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	return sum / time.Duration(len(ds))
}
