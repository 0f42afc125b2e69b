package datadir

import "testing"

func TestLayoutPaths(t *testing.T) {
	l := New("/srv")
	for got, want := range map[string]string{
		l.Index():                "/srv/index.jsonl",
		l.Attempts():             "/srv/attempts.jsonl",
		l.AttemptsRotated():      "/srv/attempts.jsonl.1",
		l.Alerts():               "/srv/alerts.jsonl",
		l.Store():                "/srv/store",
		l.Stored("ep1"):          "/srv/store/ep1.tar.zst",
		l.Tmp():                  "/srv/tmp",
		l.HostHealth():           "/srv/host-health",
		l.HostHealthFile("lab1"): "/srv/host-health/lab1.json",
		l.Lock():                 "/srv/.receiver.lock",
		l.Replica():              "/srv/replica.jsonl",
		l.ReplicaStatus():        "/srv/replica-status.json",
		l.ReplicaDays():          "/srv/replica-days.json",
		l.Spare(7):               "/srv/tmp/spare-7",
	} {
		if got != want {
			t.Errorf("got %s, want %s", got, want)
		}
	}
}

// Only names Spare makes are spares: start-up and fsck treat everything
// else in tmp/ as an interrupted upload.
func TestIsSpare(t *testing.T) {
	for name, want := range map[string]bool{
		"spare-0":           true,
		"spare-18446744073": true,
		"spare-":            false,
		"spare-x":           false,
		"spare--1":          false,
		"ep1.123.part":      false,
		"xspare-1":          false,
	} {
		if got := IsSpare(name); got != want {
			t.Errorf("IsSpare(%q) = %v, want %v", name, got, want)
		}
	}
}
