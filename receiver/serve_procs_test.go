package main

import (
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"cis490/internal/testutil"
)

// runtimeProcs is the test binary's GOMAXPROCS before any test ran: tests
// that run serve in this process raise it.
var runtimeProcs = runtime.GOMAXPROCS(0)

// serve runs with one P more than the runtime's default, so a goroutine
// woken while others sit in fsync finds a P; an operator's GOMAXPROCS wins.
func TestServeRunsWithOnePMoreThanTheDefault(t *testing.T) {
	def := runtimeProcs
	for _, tc := range []struct {
		env  string
		want int
	}{
		{"GOMAXPROCS=", def + 1}, // unset (empty is ignored by the runtime too)
		{"GOMAXPROCS=1", 1},
		{"GOMAXPROCS=7", 7},
	} {
		t.Run(tc.env, func(t *testing.T) {
			cfg := writeConfig(t, t.TempDir(), "")
			p, _, stderr := testutil.StartReady(t, "receiver",
				[]string{"CIS490_TEST_RUN_RECEIVER=1", tc.env}, os.Args[0], "serve", "--config", cfg)
			p.Stop(time.Minute) // stderr is complete once the process has exited
			want := " procs=" + strconv.Itoa(tc.want) + "\n"
			if log := stderr.String(); !strings.Contains(log, "msg=listening") || !strings.Contains(log, want) {
				t.Errorf("the listening line does not say%q:\n%s", want, log)
			}
		})
	}
}
