package queue

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"cis490/internal/queuedir"
	"cis490/internal/wire"
)

func TestAnswerTable(t *testing.T) {
	remedy := "cd /opt/cis490 && sudo -u cis490 git pull origin main\nsudo systemctl restart x"
	tests := []struct {
		name           string
		answers        []answer
		wantIn         string // shipped, quarantine or episodes
		wantResult     Result
		wantLog        string
		wantReason     queuedir.Reason // for quarantine
		wantRetryIn    time.Duration
		wantShipsAfter bool // a second pass with a healthy receiver ships it
	}{
		{
			name:       "201 retires to shipped",
			wantIn:     "shipped",
			wantResult: Result{Shipped: 1},
			wantLog:    `level=INFO msg=shipped id=ep-1 status=201`,
		},
		{
			name:       "200 duplicate retires to shipped",
			answers:    []answer{{status: 200, body: `{"status":"duplicate","id":"ep-1"}`}},
			wantIn:     "shipped",
			wantResult: Result{Duplicates: 1},
			wantLog:    `msg="shipped (duplicate)" id=ep-1 status=200`,
		},
		{
			name:       "412 quarantines with the remediation",
			answers:    []answer{{status: 412, body: `{"error":"commit-not-in-window","detail":"too old","remediation":"` + strings.ReplaceAll(remedy, "\n", `\n`) + `"}`}},
			wantIn:     "quarantine",
			wantResult: Result{Quarantined: 1},
			wantLog:    `level=ERROR msg="ship rejected" id=ep-1 status=412 error=commit-not-in-window detail="too old" remediation="cd /opt/cis490 && sudo -u cis490 git pull origin main\nsudo systemctl restart x"`,
			wantReason: queuedir.Reason{Status: 412, Error: "commit-not-in-window", Detail: "too old", Remediation: remedy},
		},
		{
			name:       "400 quarantines",
			answers:    []answer{{status: 400, body: `{"error":"missing-commit","detail":"no commit","remediation":"stamp it"}`}},
			wantIn:     "quarantine",
			wantResult: Result{Quarantined: 1},
			wantLog:    `msg="ship rejected" id=ep-1 status=400 error=missing-commit`,
			wantReason: queuedir.Reason{Status: 400, Error: "missing-commit", Detail: "no commit", Remediation: "stamp it"},
		},
		{
			name:           "503 keeps and honours Retry-After",
			answers:        []answer{{status: 503, body: `{"error":"gate-unavailable","detail":"no list"}`, retryAfter: "30"}},
			wantIn:         "episodes",
			wantResult:     Result{Transient: 1, Pending: 1},
			wantLog:        `level=WARN msg="ship failed, will retry" id=ep-1 status=503 error=gate-unavailable detail="no list" retry_in=30s`,
			wantRetryIn:    30 * time.Second,
			wantShipsAfter: true,
		},
		{
			name:           "Retry-After is capped at backoff_max_s",
			answers:        []answer{{status: 503, body: `{"error":"busy","detail":"x"}`, retryAfter: "86400"}},
			wantIn:         "episodes",
			wantResult:     Result{Transient: 1, Pending: 1},
			wantLog:        `retry_in=10m0s`,
			wantRetryIn:    600 * time.Second,
			wantShipsAfter: true,
		},
		{
			name:           "dropped connection keeps and backs off",
			answers:        []answer{{drop: true}},
			wantIn:         "episodes",
			wantResult:     Result{Transient: 1, Pending: 1},
			wantLog:        `msg="ship failed, will retry" id=ep-1 status=0 error=network`,
			wantRetryIn:    5 * time.Second,
			wantShipsAfter: true,
		},
		{
			name:           "401 keeps and logs the credentials problem",
			answers:        []answer{{status: 401, body: `{"error":"unauthorized","detail":"unknown token"}`}},
			wantIn:         "episodes",
			wantResult:     Result{Transient: 1, Pending: 1},
			wantLog:        `level=ERROR msg="ship refused: credentials" id=ep-1 status=401 error=unauthorized`,
			wantRetryIn:    5 * time.Second,
			wantShipsAfter: true,
		},
		{
			name:           "507 keeps",
			answers:        []answer{{status: 507, body: `{"error":"insufficient-storage","detail":"full"}`}},
			wantIn:         "episodes",
			wantResult:     Result{Transient: 1, Pending: 1},
			wantLog:        `status=507 error=insufficient-storage`,
			wantRetryIn:    5 * time.Second,
			wantShipsAfter: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeReceiver(t)
			q, logs := mustQueue(t, f)
			now := time.Now()
			q.Now = func() time.Time { return now }
			mustEpisode(t, q.Dirs, "ep-1", stamped, past)
			f.queue(tt.answers...)
			res, err := q.Pass(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if res.RetryIn != tt.wantRetryIn {
				t.Errorf("RetryIn = %v, want %v", res.RetryIn, tt.wantRetryIn)
			}
			res.RetryIn, res.LastError = 0, ""
			if res != tt.wantResult {
				t.Errorf("result = %+v, want %+v", res, tt.wantResult)
			}
			for _, where := range []string{"episodes", "shipped", "quarantine"} {
				root := map[string]string{"episodes": q.Dirs.Episodes, "shipped": q.Dirs.Shipped, "quarantine": q.Dirs.Quarantine}[where]
				if got := exists(filepath.Join(root, "ep-1")); got != (where == tt.wantIn) {
					t.Errorf("ep-1 in %s: %v, want it only in %s", where, got, tt.wantIn)
				}
			}
			if !strings.Contains(logs.String(), tt.wantLog) {
				t.Errorf("log lacks %q:\n%s", tt.wantLog, logs)
			}
			if strings.Count(logs.String(), "id=ep-1 status=") != 1 {
				t.Errorf("want exactly one outcome line:\n%s", logs)
			}
			if tt.wantIn != "episodes" {
				if got := names(t, q.Dirs.Outbox); got != "" {
					t.Errorf("outbox holds %s after retiring", got)
				}
			}
			if tt.wantIn == "quarantine" {
				r := readReason(t, filepath.Join(q.Dirs.Quarantine, "ep-1"))
				if _, err := wire.ParseTime(r.At); err != nil || r.Receiver != f.URL {
					t.Errorf("reason at=%q receiver=%q", r.At, r.Receiver)
				}
				r.At, r.Receiver = "", ""
				if r != tt.wantReason {
					t.Errorf("reason = %+v, want %+v", r, tt.wantReason)
				}
			}
			if tt.wantShipsAfter {
				// Within the backoff a pass sends nothing.
				now = now.Add(tt.wantRetryIn - time.Second)
				if res, err := q.Pass(context.Background()); err != nil || res.RetryIn != time.Second || f.putOrder() != "ep-1" {
					t.Errorf("pass during backoff: %+v, %v, PUTs %q", res, err, f.putOrder())
				}
				now = now.Add(time.Second)
				res, err := q.Pass(context.Background())
				if err != nil || res.Shipped != 1 || !exists(filepath.Join(q.Dirs.Shipped, "ep-1")) {
					t.Errorf("retry pass: %+v, %v", res, err)
				}
			}
		})
	}
}

func TestUploadHeaders(t *testing.T) {
	f := newFakeReceiver(t)
	q, _ := mustQueue(t, f)
	mustEpisode(t, q.Dirs, "stamped", stamped, past)
	mustEpisode(t, q.Dirs, "unstamped", `{"code_version":{"commit":"nope"}}`, past.Add(time.Second))
	if _, err := q.Pass(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(f.headers) != 2 {
		t.Fatalf("%d PUTs", len(f.headers))
	}
	if got := f.headers[0].Get(wire.HeaderCommit); got != "0123456789abcdef0123456789abcdef01234567" {
		t.Errorf("commit header = %q", got)
	}
	if got := f.headers[0].Get(wire.HeaderSchemaVersion); got != "3" {
		t.Errorf("schema header = %q", got)
	}
	if _, ok := f.headers[1][wire.HeaderCommit]; ok {
		t.Errorf("malformed commit was sent: %v", f.headers[1])
	}
}

func TestHeadShortCut(t *testing.T) {
	f := newFakeReceiver(t)
	q, logs := mustQueue(t, f)
	q.HeadFirst = true
	mustEpisode(t, q.Dirs, "ep-1", stamped, past)
	if res, err := q.Pass(context.Background()); err != nil || res.Shipped != 1 {
		t.Fatalf("first pass: %+v %v", res, err)
	}
	// The same episode again (a crash after the 2xx, before retiring): the
	// identical tree packs to the identical sha, which HEAD finds stored.
	os.RemoveAll(filepath.Join(q.Dirs.Shipped, "ep-1"))
	mustEpisode(t, q.Dirs, "ep-1", stamped, past)
	res, err := q.Pass(context.Background())
	if err != nil || res.Duplicates != 1 {
		t.Fatalf("second pass: %+v %v", res, err)
	}
	if got := f.putOrder(); got != "ep-1" {
		t.Errorf("PUTs = %q, want only the first", got)
	}
	if !strings.Contains(logs.String(), `msg="shipped (duplicate)" id=ep-1 status=200`) || !strings.Contains(logs.String(), "via=head") {
		t.Errorf("log:\n%s", logs)
	}
	if !exists(filepath.Join(q.Dirs.Shipped, "ep-1")) {
		t.Error("not retired")
	}
}

func TestReadiness(t *testing.T) {
	f := newFakeReceiver(t)
	q, logs := mustQueue(t, f)
	now := time.Now()
	mustEpisode(t, q.Dirs, "settled", stamped, past)
	mustEpisode(t, q.Dirs, "fresh", stamped, now)
	mustEpisode(t, q.Dirs, "no-meta", "", past)
	mustEpisode(t, q.Dirs, ".staging", stamped, past)
	mustEpisode(t, q.Dirs, "bad name!", stamped, past)
	mustEpisode(t, q.Dirs, "bad-but-fresh!", stamped, now)
	os.WriteFile(filepath.Join(q.Dirs.Episodes, "stray-file"), []byte("x"), 0o644)

	res, err := q.Pass(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got := f.putOrder(); got != "settled" {
		t.Errorf("uploaded %q, want only settled", got)
	}
	if got, want := names(t, q.Dirs.Episodes), ".staging,bad-but-fresh!,fresh,no-meta,stray-file"; got != want {
		t.Errorf("episodes/ = %s, want %s", got, want)
	}
	if res.Pending != 2 || res.Quarantined != 1 || res.Shipped != 1 {
		t.Errorf("result = %+v", res)
	}
	r := readReason(t, filepath.Join(q.Dirs.Quarantine, "bad name!"))
	if r.Status != 0 || r.Error != "bad-id" || r.Detail == "" || r.Remediation != "" || r.Receiver != "" || r.At == "" {
		t.Errorf("bad-id reason = %+v", r)
	}
	if !strings.Contains(logs.String(), `error=bad-id`) {
		t.Errorf("log:\n%s", logs)
	}
}

func TestOldestFirst(t *testing.T) {
	f := newFakeReceiver(t)
	q, _ := mustQueue(t, f)
	mustEpisode(t, q.Dirs, "a-newest", stamped, past.Add(3*time.Hour))
	mustEpisode(t, q.Dirs, "z-oldest", stamped, past)
	mustEpisode(t, q.Dirs, "m-tie", stamped, past.Add(time.Hour))
	mustEpisode(t, q.Dirs, "b-tie", stamped, past.Add(time.Hour))
	if _, err := q.Pass(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got, want := f.putOrder(), "z-oldest,b-tie,m-tie,a-newest"; got != want {
		t.Errorf("order = %s, want %s", got, want)
	}
}

func TestTransientStopsThePass(t *testing.T) {
	f := newFakeReceiver(t)
	q, _ := mustQueue(t, f)
	mustEpisode(t, q.Dirs, "ep-1", stamped, past)
	mustEpisode(t, q.Dirs, "ep-2", stamped, past.Add(time.Hour))
	f.queue(answer{status: 503, body: `{"error":"busy","detail":"x"}`})
	res, _ := q.Pass(context.Background())
	if got := f.putOrder(); got != "ep-1" || res.Pending != 2 {
		t.Errorf("PUTs %q, result %+v: want one attempt and both pending", got, res)
	}
}

func TestFinishInterruptedQuarantine(t *testing.T) {
	f := newFakeReceiver(t)
	q, _ := mustQueue(t, f)
	mustEpisode(t, q.Dirs, "ep-1", stamped, past)
	os.WriteFile(filepath.Join(q.Dirs.Episodes, "ep-1", queuedir.ReasonFile), []byte(`{"status":412,"error":"commit-not-in-window","at":"2026-01-01T00:00:00.000Z"}`), 0o644)
	os.WriteFile(filepath.Join(q.Dirs.Outbox, "ep-1.tar.zst"), []byte("x"), 0o644)
	res, err := q.Pass(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if res.Quarantined != 1 || f.putOrder() != "" {
		t.Errorf("result %+v, PUTs %q", res, f.putOrder())
	}
	if !exists(filepath.Join(q.Dirs.Quarantine, "ep-1", queuedir.ReasonFile)) || exists(filepath.Join(q.Dirs.Episodes, "ep-1")) {
		t.Error("quarantine not finished")
	}
	if got := names(t, q.Dirs.Outbox); got != "" {
		t.Errorf("outbox = %q", got)
	}
}

func TestQuarantineNameCollision(t *testing.T) {
	f := newFakeReceiver(t)
	q, _ := mustQueue(t, f)
	mustEpisode(t, q.Dirs, "ep-1", stamped, past)
	os.MkdirAll(filepath.Join(q.Dirs.Quarantine, "ep-1"), 0o755) // empty: rename(2) would replace it
	f.queue(answer{status: 409, body: `{"error":"conflict","detail":"other"}`})
	if _, err := q.Pass(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := names(t, q.Dirs.Quarantine); got != "ep-1,ep-1.1" {
		t.Errorf("quarantine = %s", got)
	}
	if got := names(t, filepath.Join(q.Dirs.Quarantine, "ep-1")); got != "" {
		t.Errorf("existing entry was replaced: holds %s", got)
	}
}

func TestBackoff(t *testing.T) {
	tests := []struct {
		name     string
		failures int
		rnd      float64
		want     time.Duration
	}{
		{"first failure waits the minimum", 1, 0.99, 5 * time.Second},
		{"second failure up to twice the minimum", 2, 1, 10 * time.Second},
		{"jitter spreads the wait", 3, 0.5, 13 * time.Second},
		{"capped at the maximum", 12, 1, 600 * time.Second},
		{"never below the minimum", 12, 0, 5 * time.Second},
		{"no overflow after many failures", 500, 1, 600 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := &Queue{Rand: func() float64 { return tt.rnd }}
			q.Cfg.BackoffMinS, q.Cfg.BackoffMaxS = 5, 600
			q.failures = tt.failures - 1
			if got := q.backoff(os.ErrDeadlineExceeded); got != tt.want {
				t.Errorf("backoff = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestCancelLeavesOnlyOutboxFiles(t *testing.T) {
	f := newFakeReceiver(t)
	q, _ := mustQueue(t, f)
	mustEpisode(t, q.Dirs, "ep-1", stamped, past)
	ctx, cancel := context.WithCancel(context.Background())
	q.Progress = onMove(cancel) // cancel as soon as the pass moves
	_, err := q.Pass(ctx)
	if err == nil {
		t.Fatal("want the cancellation")
	}
	if !exists(filepath.Join(q.Dirs.Episodes, "ep-1")) || f.putOrder() != "" {
		t.Errorf("episode moved or uploaded after cancel")
	}
}

func FuzzParseMeta(f *testing.F) {
	f.Add([]byte(stamped))
	f.Add([]byte(`{"code_version":"x","schema_version":3}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`[1]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := parseMeta(b)
		if err != nil {
			return
		}
		if m.Commit != "" {
			if c, ok := wire.NormalizeCommit(m.Commit); !ok || c != m.Commit {
				t.Fatalf("commit %q not normalized", m.Commit)
			}
		}
		if m.SchemaVersion != "" && !wire.ValidSchemaVersion(m.SchemaVersion) {
			t.Fatalf("schema %q invalid", m.SchemaVersion)
		}
	})
}

func TestFailedMoveIsNotRetriedEveryPass(t *testing.T) {
	f := newFakeReceiver(t)
	q, logs := mustQueue(t, f)
	mustEpisode(t, q.Dirs, "ep-1", stamped, past)
	// quarantine/ is unusable: the move out of episodes/ fails.
	os.Remove(q.Dirs.Quarantine)
	os.WriteFile(q.Dirs.Quarantine, []byte("not a directory"), 0o644)
	f.queue(answer{status: 412, body: `{"error":"commit-not-in-window","detail":"old"}`})
	for i := 0; i < 3; i++ {
		if _, err := q.Pass(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if got := f.putOrder(); got != "ep-1" {
		t.Errorf("PUTs = %q, want one: a refused episode must not be re-sent every pass", got)
	}
	if !strings.Contains(logs.String(), "quarantine_error=") || !strings.Contains(logs.String(), "skipped until the shipper restarts") {
		t.Errorf("log:\n%s", logs)
	}
	if !exists(filepath.Join(q.Dirs.Episodes, "ep-1")) {
		t.Error("episode lost")
	}
}

// onMove is a transport.Progress that calls f whenever work moves.
type onMove func()

func (f onMove) Moved(int64)        { f() }
func (f onMove) Awaiting(time.Time) { f() }
