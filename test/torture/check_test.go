package torture

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"cis490/internal/index"
	"cis490/internal/jsonl"
	"cis490/internal/wire"
)

// figures are what a run proves, printed at the end.
type figures struct {
	hosts, episodes             int
	valid, stale, unstamped     int
	stored, quarantined         int
	lost, duplicates, corrupted int
	misplaced                   int
	storedBytes                 int64
	// dupAnswers counts uploads the receiver had already stored when the
	// shipper asked again (HEAD or a 200 duplicate): the crash window
	// between the receiver's 2xx and the shipper's retirement.
	dupAnswers int
	// backfilled counts rows the receiver re-indexed at start-up: a crash
	// between the store link and the index append.
	backfilled                  int
	uploads                     int
	uploadsByStatus             map[int]int
	receiverKills, shipperKills int64
	onceRuns                    int64
	faults                      int64
	faultsByKind                map[string]int64
	proxyConns                  int64
	gateRequests, gateRefused   int64
	diskFull, gateDown, elapsed time.Duration
	problems                    []string
}

func (f *figures) problem(format string, args ...any) {
	f.problems = append(f.problems, fmt.Sprintf(format, args...))
}

// check inspects every host's data directory and the receiver's, after
// everything stopped.
func (h *harness) check() *figures {
	t := h.t
	f := &figures{hosts: h.p.hosts, episodes: len(h.specs), uploadsByStatus: map[int]int{}}
	rdata := h.recv.dataDir

	rows := map[string][]index.Row{}
	problems, torn, err := index.ReadFile(filepath.Join(rdata, "index.jsonl"), func(r index.Row) {
		rows[r.ID] = append(rows[r.ID], r)
		if r.Source == index.SourceBackfill {
			f.backfilled++
		}
	})
	if err != nil {
		t.Fatalf("read index: %v", err)
	}
	for _, p := range problems {
		f.corrupted++
		f.problem("index.jsonl line %d: %v", p.Line, p.Err)
	}
	if torn {
		f.corrupted++
		f.problem("index.jsonl ends in a torn line after a clean stop")
	}
	storeNames, err := readNames(filepath.Join(rdata, "store"))
	if err != nil {
		t.Fatal(err)
	}
	stored := map[string]bool{}
	for _, n := range storeNames {
		stored[strings.TrimSuffix(n, ".tar.zst")] = true
	}
	planned := map[string]bool{}
	for _, sp := range h.specs {
		planned[sp.id] = true
	}
	for id := range rows {
		if !planned[id] {
			f.problem("index row for unplanned id %s", id)
		}
	}
	for id := range stored {
		if !planned[id] {
			f.problem("store file for unplanned id %s", id)
		}
	}

	// Where each host's episodes ended.
	type place struct{ shipped, quarantined map[string]bool }
	places := map[string]place{}
	for _, sh := range h.hosts {
		pl := place{shipped: map[string]bool{}, quarantined: map[string]bool{}}
		for sub, set := range map[string]map[string]bool{"shipped": pl.shipped, "quarantine": pl.quarantined} {
			names, err := readNames(filepath.Join(sh.dir, sub))
			if err != nil {
				t.Fatal(err)
			}
			for _, n := range names {
				set[n] = true
				if !planned[n] {
					f.misplaced++
					f.problem("%s/%s/%s is not a planned id (a collision name?)", sh.id, sub, n)
				}
			}
		}
		places[sh.id] = pl
		for _, sub := range []string{"episodes", "outbox"} {
			names, _ := readNames(filepath.Join(sh.dir, sub))
			for _, n := range names {
				f.problem("%s/%s/%s left behind", sh.id, sub, n)
			}
		}
	}

	for _, sp := range h.specs {
		pl := places[sp.hostID]
		inShipped, inQuar := pl.shipped[sp.id], pl.quarantined[sp.id]
		rs := rows[sp.id]
		if len(rs) > 1 {
			f.duplicates += len(rs) - 1
			f.problem("%s has %d index rows", sp.id, len(rs))
		}
		switch sp.kind {
		case kindValid:
			f.valid++
			if len(rs) == 0 || !stored[sp.id] || !inShipped {
				f.lost++
				f.problem("valid %s: index rows %d, store file %v, in shipped/ %v", sp.id, len(rs), stored[sp.id], inShipped)
				continue
			}
			if inQuar {
				f.misplaced++
				f.problem("valid %s is also in quarantine/", sp.id)
			}
			row := rs[0]
			if row.Host != sp.hostID || row.Commit != sp.commit {
				f.problem("valid %s: row host %q commit %q, want %q %q", sp.id, row.Host, row.Commit, sp.hostID, sp.commit)
			}
			path := filepath.Join(rdata, "store", sp.id+".tar.zst")
			sha, mismatch, err := verifyTarball(path, sp)
			fi, serr := os.Stat(path)
			switch {
			case err != nil || serr != nil:
				f.corrupted++
				f.problem("valid %s: read store file: %v %v", sp.id, err, serr)
			case mismatch != "":
				f.corrupted++
				f.problem("valid %s: stored tarball: %s", sp.id, mismatch)
			case sha != row.SHA256 || fi.Size() != row.Bytes:
				f.corrupted++
				f.problem("valid %s: store file sha256 %s size %d, row says %s %d", sp.id, sha, fi.Size(), row.SHA256, row.Bytes)
			default:
				f.stored++
				f.storedBytes += fi.Size()
			}
		case kindStale, kindUnstamped:
			wantStatus, wantErr := 412, "commit-not-in-window"
			if sp.kind == kindStale {
				f.stale++
			} else {
				f.unstamped++
				wantStatus, wantErr = 400, "missing-commit"
			}
			if len(rs) > 0 || stored[sp.id] {
				f.misplaced++
				f.problem("%s %s was stored (rows %d)", sp.kind, sp.id, len(rs))
			}
			if !inQuar || inShipped {
				f.lost++
				f.problem("%s %s: in quarantine/ %v, in shipped/ %v", sp.kind, sp.id, inQuar, inShipped)
				continue
			}
			var reason struct {
				Status int    `json:"status"`
				Error  string `json:"error"`
			}
			b, err := os.ReadFile(filepath.Join(h.hostDir(sp.hostID), "quarantine", sp.id, "quarantine_reason.json"))
			if err == nil {
				err = json.Unmarshal(b, &reason)
			}
			if err != nil || reason.Status != wantStatus || reason.Error != wantErr {
				f.misplaced++
				f.problem("%s %s: quarantine reason %d %q (%v), want %d %q", sp.kind, sp.id, reason.Status, reason.Error, err, wantStatus, wantErr)
				continue
			}
			f.quarantined++
		}
	}

	if names, err := readNames(filepath.Join(rdata, "tmp")); err != nil || len(names) > 0 {
		f.problem("receiver tmp/ holds %v (%v)", names, err)
	}
	h.fsck(f)
	h.countAttempts(f)
	h.countDuplicates(f)

	f.receiverKills = h.recv.kills.Load()
	f.shipperKills = h.shipperKills.Load()
	for _, sh := range h.hosts {
		f.onceRuns += sh.onceRuns.Load()
	}
	f.faults, f.faultsByKind = h.proxy.injected()
	f.proxyConns = h.proxy.conns.Load()
	f.gateRequests, f.gateRefused = h.fj.requests.Load(), h.fj.refused.Load()
	f.diskFull, f.gateDown = h.diskFull, h.gateDown
	if n := h.recv.unexpected.Load(); n > 0 {
		f.problem("the receiver exited %d times without being killed", n)
	}
	return f
}

func (h *harness) hostDir(id string) string { return filepath.Join(h.dir, "hosts", id) }

// fsck runs `cis490-receiver fsck --verify --json` on the stopped
// receiver's data directory.
func (h *harness) fsck(f *figures) {
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(filepath.Join(h.bin, "cis490-receiver"), "fsck", "--verify", "--json", "--data-dir", h.recv.dataDir)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var out struct {
		OK       bool              `json:"ok"`
		Problems []json.RawMessage `json:"problems"`
	}
	if jerr := json.Unmarshal(stdout.Bytes(), &out); jerr != nil || err != nil || !out.OK {
		f.corrupted += len(out.Problems)
		f.problem("fsck --verify: %v, %s %s", err, stdout.String(), stderr.String())
	}
}

// countAttempts counts the receiver's attempts log (both generations).
func (h *harness) countAttempts(f *figures) {
	for _, name := range []string{"attempts.jsonl.1", "attempts.jsonl"} {
		_, err := jsonl.ScanFile(filepath.Join(h.recv.dataDir, name), func(line []byte) error {
			var a struct {
				Status int `json:"status"`
			}
			if json.Unmarshal(line, &a) == nil {
				f.uploads++
				f.uploadsByStatus[a.Status]++
			}
			return nil
		})
		if err != nil && !os.IsNotExist(err) {
			f.problem("read %s: %v", name, err)
		}
	}
}

// countDuplicates counts the shippers' "shipped (duplicate)" log lines.
func (h *harness) countDuplicates(f *figures) {
	for _, sh := range h.hosts {
		b, err := os.ReadFile(sh.log)
		if err != nil {
			f.problem("read %s: %v", sh.log, err)
			continue
		}
		f.dupAnswers += bytes.Count(b, []byte(`msg="`+wire.LogShipDuplicate+`"`))
	}
}

// report logs the figures and fails the test on any problem.
func (h *harness) report(f *figures) {
	t := h.t
	var statuses []string
	keys := make([]int, 0, len(f.uploadsByStatus))
	for k := range f.uploadsByStatus {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	for _, k := range keys {
		statuses = append(statuses, fmt.Sprintf("%d:%d", k, f.uploadsByStatus[k]))
	}
	kinds := []string{}
	for _, k := range []string{"reset", "drop-reply", "stall", "delay"} {
		kinds = append(kinds, fmt.Sprintf("%s=%d", k, f.faultsByKind[k]))
	}
	t.Logf("plan %s seed %d: %d valid, %d stale, %d unstamped; %d bytes stored; run %s",
		h.p.name, h.p.seed, f.valid, f.stale, f.unstamped, f.storedBytes, f.elapsed.Round(time.Second))
	t.Logf("uploads (attempts.jsonl rows) %d by status [%s] (0 = aborted); retired as duplicates %d; rows re-indexed at start-up %d; proxy connections %d; --once runs %d",
		f.uploads, strings.Join(statuses, " "), f.dupAnswers, f.backfilled, f.proxyConns, f.onceRuns)
	t.Logf("faults: %s; disk full (507) for %s; gate upstream down for %s (%d of %d Forgejo requests refused)",
		strings.Join(kinds, " "), f.diskFull.Round(time.Second), f.gateDown.Round(time.Second), f.gateRefused, f.gateRequests)
	t.Logf("torture: hosts=%d episodes=%d stored=%d quarantined=%d lost=%d duplicates=%d corrupted=%d receiver_kills=%d shipper_kills=%d faults=%d",
		f.hosts, f.episodes, f.stored, f.quarantined, f.lost, f.duplicates, f.corrupted, f.receiverKills, f.shipperKills, f.faults)
	for i, p := range f.problems {
		if i == 50 {
			t.Errorf("… and %d more problems", len(f.problems)-50)
			break
		}
		t.Error(p)
	}
	if f.stored+f.quarantined != f.episodes {
		t.Errorf("stored %d + quarantined %d != %d episodes", f.stored, f.quarantined, f.episodes)
	}
	if f.faults == 0 || f.receiverKills == 0 || f.shipperKills == 0 {
		t.Errorf("faults %d, receiver kills %d, shipper kills %d: the run injected too little to prove anything", f.faults, f.receiverKills, f.shipperKills)
	}
}
