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
	} {
		if got != want {
			t.Errorf("got %s, want %s", got, want)
		}
	}
}
