package main

import (
	"bytes"
	"crypto/ecdsa"
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	fleetpki "cis490/internal/pki"
	"cis490/internal/wire"
	"cis490/receiver/datadir"
	"cis490/receiver/registry"
)

// checkRegistry fails the test unless every file under hosts/ is a whole,
// parsing entry (temp files of an interrupted write are allowed: the next
// start removes them).
func checkRegistry(t *testing.T, dataDir string) {
	t.Helper()
	_, probs, err := registry.List(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range probs {
		if p.Host != "" {
			t.Fatalf("torn or unparsable registry file after kill -9: %s: %s", p.File, p.Detail)
		}
	}
}

// TestHostAddSurvivesKill9 kills `cis490-receiver host add` with SIGKILL
// at random instants. The registry never holds a torn file, and a secret
// the command printed is always the one on disk: it either works or the
// command never said it did.
func TestHostAddSurvivesKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("runs host add ~40 times")
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 14))
	cfg, dataDir, _ := joinConfig(t, "")
	printed, killedSilent := 0, 0
	for i := 0; i < 40; i++ {
		var out bytes.Buffer
		cmd := exec.Command(os.Args[0], "host", "add", "lab7", "--config", cfg, "--json")
		cmd.Env = append(os.Environ(), "CIS490_TEST_RUN_RECEIVER=1", "GORACE=atexit_sleep_ms=0")
		cmd.Stdout = &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-time.After(time.Duration(rng.IntN(40_000)) * time.Microsecond):
			cmd.Process.Kill()
			<-done
		case <-done:
		}
		checkRegistry(t, dataDir)
		var res struct {
			JoinToken string `json:"join_token"`
		}
		if json.Unmarshal(out.Bytes(), &res) != nil || res.JoinToken == "" {
			killedSilent++
			continue
		}
		printed++
		e, err := registry.Read(dataDir, "lab7")
		if err != nil || !registry.SumMatches(e.JoinSHA256, res.JoinToken) {
			t.Fatalf("host add printed a secret the registry does not hold: %+v, %v", e, err)
		}
	}
	t.Logf("%d runs printed their secret, %d were killed first", printed, killedSilent)
}

// TestJoinSurvivesKill9 kills the serving receiver with SIGKILL while hosts
// join, restarts it, and checks that the registry is whole and that each
// host still joins with its secret and key (a join the crash cut short, or
// one whose answer it swallowed, is simply repeated).
func TestJoinSurvivesKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("restarts the receiver several times")
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 15))
	cfg, dataDir, _ := joinConfig(t, "[version_gate]\nenabled = false\n")
	if code, out, errb := runCmd(t, "pki", "init", "--config", cfg, "--name", "localhost"); code != 0 {
		t.Fatalf("pki init: %d %s %s", code, out, errb)
	}
	hosts := []string{"lab1", "lab2", "lab3", "lab4"}
	secrets, keys := map[string]string{}, map[string]*ecdsa.PrivateKey{}
	for _, h := range hosts {
		code, out, _ := runCmd(t, "host", "add", h, "--config", cfg, "--json")
		var res struct {
			JoinToken string `json:"join_token"`
		}
		if code != 0 || json.Unmarshal([]byte(out), &res) != nil {
			t.Fatalf("host add %s: %d %s", h, code, out)
		}
		secrets[h] = res.JoinToken
		keys[h], _ = fleetpki.NewKey()
	}
	join := func(base, host string) (int, wire.JoinReply, error) {
		csr, _ := fleetpki.NewCSR(keys[host], host)
		s := string(csr)
		b, _ := json.Marshal(wire.JoinRequest{Host: host, CSR: &s})
		req, _ := http.NewRequest(http.MethodPost, base+wire.JoinPath, bytes.NewReader(b))
		req.Header.Set("Authorization", "Bearer "+secrets[host])
		resp, err := http.DefaultClient.Do(req)
		var reply wire.JoinReply
		if err != nil {
			return 0, reply, err
		}
		defer resp.Body.Close()
		json.NewDecoder(resp.Body).Decode(&reply)
		return resp.StatusCode, reply, nil
	}
	for round := 0; round < 5; round++ {
		p := startReceiver(t, nil, "--config", cfg)
		base := "http://" + p.addr
		stop := make(chan struct{})
		joined := make(chan struct{}, 1)
		go func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if code, _, err := join(base, hosts[i%len(hosts)]); err == nil && code != http.StatusCreated {
					t.Errorf("join of %s while running: %d", hosts[i%len(hosts)], code)
				} else if err == nil {
					select {
					case joined <- struct{}{}:
					default:
					}
				}
			}
		}()
		<-joined // at least one join went through; the next are in flight
		// The kill lands at a random instant of the joins that follow.
		<-time.After(time.Duration(rng.IntN(20_000)) * time.Microsecond)
		p.kill9()
		close(stop)
		checkRegistry(t, dataDir)
	}
	// After the last crash: a restart removes temp files, and every host
	// joins again with its own secret and key; its new token works.
	p := startReceiver(t, nil, "--config", cfg)
	base := "http://" + p.addr
	if ents, _ := os.ReadDir(datadir.New(dataDir).Hosts()); len(ents) > 0 {
		for _, e := range ents {
			if strings.Contains(e.Name(), ".tmp-") {
				t.Errorf("temp file %s left after restart", e.Name())
			}
		}
	}
	for _, h := range hosts {
		code, reply, err := join(base, h)
		if err != nil || code != http.StatusCreated {
			t.Fatalf("join of %s after the crashes: %d, %v", h, code, err)
		}
		req, _ := http.NewRequest(http.MethodPost, base+wire.PingPath, nil)
		req.Header.Set("Authorization", "Bearer "+reply.Token)
		req.Header.Set(wire.HeaderHost, h)
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("ping of %s with its new token: %v %v", h, resp, err)
		}
		resp.Body.Close()
	}
}
