package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
	"time"

	"cis490/internal/cmdline"
	"cis490/internal/config"
	"cis490/internal/s3"
	"cis490/internal/s3/s3test"
	"cis490/internal/wire"
	"cis490/receiver/replica"
	"cis490/receiver/replicalog"
)

// replicaSection is the [replica] table for bucket on srv.
func replicaSection(srv *s3test.Server, bucket string, extra string) string {
	return fmt.Sprintf("[replica]\nendpoint = %q\nbucket = %q\naccess_key_id = %q\nsecret_access_key = %q\n%s",
		srv.Endpoint(), bucket, s3test.AccessKey, s3test.SecretKey, extra)
}

// putEpisode stores body as id on the receiver at base and fails the test
// unless the answer is 201.
func putEpisode(t *testing.T, base, id string, body []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPut, base+wire.EpisodeURLPath(id), bytes.NewReader(body))
	req.Header.Set(wire.HeaderHost, "lab1")
	req.Header.Set(wire.HeaderSHA256, sha(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("PUT %s: %v", id, err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("PUT %s: %d %s", id, resp.StatusCode, b)
	}
}

// checkRecorded fails the test unless every row of replica.jsonl names a
// stored episode once, with its sha256, and the bucket holds exactly those
// bytes.
func checkRecorded(t *testing.T, dir string, client *s3.Client, stored map[string][]byte) int {
	t.Helper()
	seen := map[string]bool{}
	err := replicalog.ReadFile(dir, func(r replicalog.Row) {
		if seen[r.ID] {
			t.Errorf("%s recorded twice", r.ID)
		}
		seen[r.ID] = true
		body, ok := stored[r.ID]
		if !ok || r.SHA256 != sha(body) {
			t.Errorf("%s recorded with %s, not a stored episode's digest", r.ID, r.SHA256)
			return
		}
		rc, _, err := client.Get(context.Background(), replica.Key("", r.ID))
		if err != nil {
			t.Errorf("%s recorded, but the bucket answers %v", r.ID, err)
			return
		}
		got, _ := io.ReadAll(rc)
		rc.Close()
		if !bytes.Equal(got, body) {
			t.Errorf("%s recorded, but the bucket holds other bytes", r.ID)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return len(seen)
}

// TestReplicaSurvivesKill9 kills the receiver (kill -9) at random moments
// while it replicates, more than twenty times, storing new episodes after
// every start so that uploads are always in flight. After each kill and at
// the end, every recorded episode is recorded once and is in the bucket
// with its bytes; after the last restart every episode gets recorded.
func TestReplicaSurvivesKill9(t *testing.T) {
	srv := s3test.Start(t, s3test.Options{})
	client := srv.Bucket("cis490-kill")
	dir := t.TempDir()
	cfg := writeConfig(t, dir, "min_free_bytes = 0\n[version_gate]\nenabled = false\n"+
		replicaSection(srv, "cis490-kill", "concurrency = 4\n"))
	rng := rand.New(rand.NewPCG(490, 17))
	stored := map[string][]byte{}
	const rounds = 22
	for round := 0; round < rounds; round++ {
		p := startReceiver(t, nil, "--config", cfg)
		for i := 0; i < 6; i++ {
			id := fmt.Sprintf("r%02d-%d", round, i)
			body := randomBytes(t, 32<<10+rng.IntN(768<<10))
			putEpisode(t, "http://"+p.addr, id, body)
			stored[id] = body
		}
		// The kill lands at a random point of the replication that the
		// start and the new episodes set off (fault timing, not a wait).
		time.Sleep(time.Duration(rng.IntN(120)) * time.Millisecond)
		p.kill9()
		checkRecorded(t, dir, client, stored)
	}
	p := startReceiver(t, nil, "--config", cfg)
	deadline := time.Now().Add(3 * time.Minute)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		n := 0
		replicalog.ReadFile(dir, func(replicalog.Row) { n++ })
		if n >= len(stored) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d episodes replicated after the last restart", n, len(stored))
		}
		<-tick.C
	}
	if err := p.stop(); err != nil {
		t.Errorf("stop: %v", err)
	}
	if n := checkRecorded(t, dir, client, stored); n != len(stored) {
		t.Errorf("%d of %d episodes recorded", n, len(stored))
	}
}

// fleetHealthFindings runs fleet-health --json at now and returns its
// findings about the receiver itself as "host symptom".
func fleetHealthFindings(t *testing.T, cfg string, now time.Time) []string {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"fleet-health", "--config", cfg, "--json", "--now", wire.FormatTime(now)}, &out, &errb)
	if code != 0 {
		t.Fatalf("fleet-health exit %d: %s", code, errb.String())
	}
	var doc struct {
		Findings []struct{ Host, Symptom string }
	}
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range doc.Findings {
		if f.Host == "receiver" {
			got = append(got, f.Host+" "+f.Symptom)
		}
	}
	return got
}

// TestReplicaStoreDownAndBack stops the object store while episodes keep
// arriving: every upload is answered 201 meanwhile, replica status and
// fleet-health show the backlog (replica-lag), and once the store is back
// the backlog drains and replica-lag is not raised again.
func TestReplicaStoreDownAndBack(t *testing.T) {
	srv := s3test.Start(t, s3test.Options{})
	client := srv.Bucket("cis490-down")
	dir := t.TempDir()
	cfgPath := writeConfig(t, dir, "min_free_bytes = 0\n[version_gate]\nenabled = false\n"+
		replicaSection(srv, "cis490-down", ""))
	cfg, err := config.LoadReceiver(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	events := make(chan replica.Event, 1000)
	ctx, cancel := context.WithCancel(context.Background())
	bound := make(chan netAddr, 1)
	errc := make(chan error, 1)
	go func() {
		errc <- serve(ctx, cfg, serveOptions{log: cmdline.NewLogger(io.Discard), bound: bound, replica: func(o *replica.Options) {
			o.BackoffMin, o.BackoffMax = 20*time.Millisecond, 200*time.Millisecond
			o.StatusEvery = 20 * time.Millisecond
			o.Event = func(e replica.Event) {
				select {
				case events <- e:
				default:
				}
			}
		}})
	}()
	t.Cleanup(func() { cancel(); <-errc })
	var base string
	select {
	case a := <-bound:
		base = "http://" + a.String()
	case err := <-errc:
		t.Fatal(err)
	}
	waitFor := func(kind string, n int) {
		t.Helper()
		timeout := time.After(2 * time.Minute)
		for n > 0 {
			select {
			case e := <-events:
				if e.Kind == kind {
					n--
				}
			case <-timeout:
				t.Fatalf("%d %s events missing", n, kind)
			}
		}
	}
	stored := map[string][]byte{}
	put := func(id string) {
		body := randomBytes(t, 50_000)
		putEpisode(t, base, id, body)
		stored[id] = body
	}
	for i := 0; i < 5; i++ {
		put(fmt.Sprintf("before-%d", i))
	}
	waitFor("replicated", 5)

	srv.Stop()
	put("down-0")
	waitFor("failed", 3) // the replicator is failing now
	for i := 1; i < 30; i++ {
		put(fmt.Sprintf("down-%d", i)) // every one answered 201 while the store is down
	}
	var st replicalog.Status
	statusDeadline := time.After(time.Minute)
	for st.Pending != 30 || st.LastError == nil {
		select {
		case <-events:
		case <-statusDeadline:
			t.Fatalf("status never showed the backlog: %+v", st)
		}
		st = replicaStatusJSON(t, cfgPath)
	}
	if st.LastError.Kind != s3.KindNetwork || st.OldestPendingAt == "" {
		t.Errorf("status during the outage: %+v, last_error %+v", st, st.LastError)
	}
	later := time.Now().Add(2 * time.Hour)
	if got := fleetHealthFindings(t, cfgPath, later); strings.Join(got, ",") != "receiver replica-lag" {
		t.Errorf("fleet-health during the outage: %v", got)
	}

	srv.Restart()
	waitFor("replicated", 30)
	drainDeadline := time.After(time.Minute)
	// fleet-health reads the status file serve publishes, which follows
	// replica.jsonl (what `replica status` counts) by up to StatusEvery:
	// wait for both to show the drain.
	published := func() bool {
		saved, ok, err := replicalog.ReadStatus(dir)
		return err == nil && ok && saved.Pending == 0 && saved.OldestPendingAt == ""
	}
	for st.Pending != 0 || !published() {
		select {
		case <-events:
		case <-drainDeadline:
			t.Fatalf("status never showed the drain: %+v", st)
		case <-time.After(50 * time.Millisecond):
		}
		st = replicaStatusJSON(t, cfgPath)
	}
	if got := fleetHealthFindings(t, cfgPath, later.Add(time.Hour)); len(got) != 0 {
		t.Errorf("fleet-health after the drain: %v", got)
	}
	if n := checkRecorded(t, dir, client, stored); n != len(stored) {
		t.Errorf("%d of %d recorded", n, len(stored))
	}
}

// replicaStatusJSON runs `replica status --json`.
func replicaStatusJSON(t *testing.T, cfg string) replicalog.Status {
	t.Helper()
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"replica", "status", "--json", "--config", cfg}, &out, &errb); code != 0 {
		t.Fatalf("replica status exit %d: %s", code, errb.String())
	}
	var st replicalog.Status
	if err := json.Unmarshal(out.Bytes(), &st); err != nil {
		t.Fatalf("%q: %v", out.String(), err)
	}
	return st
}

func TestReplicaCommandsNeedTheTable(t *testing.T) {
	cfg := writeConfig(t, t.TempDir(), "")
	for _, args := range [][]string{
		{"replica", "status", "--json", "--config", cfg},
		{"replica", "verify", "--json", "--config", cfg},
		{"replica", "restore", "--json", "--config", cfg},
		{"replica"},
		{"replica", "frobnicate"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			var out, errb bytes.Buffer
			if code := run(context.Background(), args, &out, &errb); code != 2 {
				t.Errorf("exit %d, want 2\n%s%s", code, out.String(), errb.String())
			}
			if len(args) > 3 && !strings.Contains(out.String(), `"error"`) {
				t.Errorf("--json printed %q", out.String())
			}
		})
	}
}
