package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func writeConfig(tb testing.TB, content string) string {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "test.toml")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		tb.Fatal(err)
	}
	return path
}

func TestLoadReceiverOverrides(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want func(*Receiver)
	}{
		{"server.listen", "[server]\nlisten = \"0.0.0.0:9000\"", func(c *Receiver) { c.Server.Listen = "0.0.0.0:9000" }},
		{"server.data_dir", "[server]\ndata_dir = '/srv/cis490'", func(c *Receiver) { c.Server.DataDir = "/srv/cis490" }},
		{"server.max_body_bytes", "[server]\nmax_body_bytes = 1_000", func(c *Receiver) { c.Server.MaxBodyBytes = 1000 }},
		{"server.min_free_bytes", "[server]\nmin_free_bytes = 0", func(c *Receiver) { c.Server.MinFreeBytes = 0 }},
		{"server.max_concurrent_uploads", "[server]\nmax_concurrent_uploads = 4", func(c *Receiver) { c.Server.MaxConcurrentUploads = 4 }},
		{"server.body_idle_timeout_s", "[server]\nbody_idle_timeout_s = 5", func(c *Receiver) { c.Server.BodyIdleTimeoutS = 5 }},
		{"server.attempts_max_bytes", "[server]\nattempts_max_bytes = 1024", func(c *Receiver) { c.Server.AttemptsMaxBytes = 1024 }},
		{"auth.token", "[auth]\ntoken = \"s3cret\"", func(c *Receiver) { c.Auth.Token = "s3cret" }},
		{"auth.token_file", "[auth]\ntoken_file = \"/etc/cis490/token\"", func(c *Receiver) { c.Auth.TokenFile = "/etc/cis490/token" }},
		{"auth.client_subject_header", "[auth]\nclient_subject_header = \"X-Client-Subject\"", func(c *Receiver) { c.Auth.ClientSubjectHeader = "X-Client-Subject" }},
		{"auth.hosts", "[auth.hosts]\nlab1 = \"/t/lab1\"\nlab-2 = \"/t/lab2\"", func(c *Receiver) {
			c.Auth.Hosts = map[string]string{"lab1": "/t/lab1", "lab-2": "/t/lab2"}
		}},
		{"tls files", "[tls]\ncert_file = \"/c\"\nkey_file = \"/k\"\nclient_ca_file = \"/ca\"", func(c *Receiver) {
			c.TLS = TLS{CertFile: "/c", KeyFile: "/k", ClientCAFile: "/ca"}
		}},
		{"version_gate.enabled", "[version_gate]\nenabled = false", func(c *Receiver) { c.VersionGate.Enabled = false }},
		{"version_gate forgejo", "[version_gate]\nforgejo_url = \"https://git.lab\"\nrepo_owner = \"o\"\nrepo_name = \"r\"", func(c *Receiver) {
			c.VersionGate.ForgejoURL, c.VersionGate.RepoOwner, c.VersionGate.RepoName = "https://git.lab", "o", "r"
		}},
		{"version_gate.branch", "[version_gate]\nbranch = \"release\"", func(c *Receiver) { c.VersionGate.Branch = "release" }},
		{"version_gate.auth_token", "[version_gate]\nauth_token = \"t\"", func(c *Receiver) { c.VersionGate.AuthToken = "t" }},
		{"version_gate.auth_token_file", "[version_gate]\nauth_token_file = \"/f\"", func(c *Receiver) { c.VersionGate.AuthTokenFile = "/f" }},
		{"version_gate.repo_path", "[version_gate]\nrepo_path = \"/opt/x/.git\"", func(c *Receiver) { c.VersionGate.RepoPath = "/opt/x/.git" }},
		{"version_gate.window", "[version_gate]\nwindow = 7", func(c *Receiver) { c.VersionGate.Window = 7 }},
		{"version_gate.refresh_s", "[version_gate]\nrefresh_s = 60", func(c *Receiver) { c.VersionGate.RefreshS = 60 }},
		{"version_gate.remediation", "[version_gate]\nremediation = \"a\\nb\"", func(c *Receiver) { c.VersionGate.Remediation = "a\nb" }},
		{"fleet_health.active_window_s", "[fleet_health]\nactive_window_s = 10", func(c *Receiver) { c.FleetHealth.ActiveWindowS = 10 }},
		{"fleet_health.silent_after_s", "[fleet_health]\nsilent_after_s = 11", func(c *Receiver) { c.FleetHealth.SilentAfterS = 11 }},
		{"fleet_health.fatal_window_s", "[fleet_health]\nfatal_window_s = 12", func(c *Receiver) { c.FleetHealth.FatalWindowS = 12 }},
		{"fleet_health.fatal_min_attempts", "[fleet_health]\nfatal_min_attempts = 1", func(c *Receiver) { c.FleetHealth.FatalMinAttempts = 1 }},
		{"fleet_health.health_max_age_s", "[fleet_health]\nhealth_max_age_s = 13", func(c *Receiver) { c.FleetHealth.HealthMaxAgeS = 13 }},
		{"fleet_health.expected_hosts", "[fleet_health]\nexpected_hosts = [\n  \"lab1\",\n  \"lab2\",\n]", func(c *Receiver) {
			c.FleetHealth.ExpectedHosts = []string{"lab1", "lab2"}
		}},
		{"fleet_health.notify_command", "[fleet_health]\nnotify_command = \"logger -t x\"", func(c *Receiver) { c.FleetHealth.NotifyCommand = "logger -t x" }},
		{"fleet_health.replica_max_lag_s", "[fleet_health]\nreplica_max_lag_s = 60", func(c *Receiver) { c.FleetHealth.ReplicaMaxLagS = 60 }},
		{"replica", "[replica]\nendpoint = \"https://s3.lab\"\nbucket = \"lab-data\"\nprefix = \"cis490/\"\nregion = \"eu\"\n" +
			"access_key_id_file = \"/k\"\nsecret_access_key_file = \"/s\"\nca_file = \"/ca\"\npath_style = false\nconcurrency = 4\nlocal_keep_days = 30",
			func(c *Receiver) {
				c.Replica = Replica{Endpoint: "https://s3.lab", Bucket: "lab-data", Prefix: "cis490/", Region: "eu",
					AccessKeyIDFile: "/k", SecretAccessKeyFile: "/s", CAFile: "/ca", Concurrency: 4, LocalKeepDays: 30}
			}},
		{"replica inline keys", "[replica]\nendpoint = \"http://127.0.0.1:7070\"\nbucket = \"abc\"\naccess_key_id = \"k\"\nsecret_access_key = \"s\"",
			func(c *Receiver) {
				c.Replica.Endpoint, c.Replica.Bucket, c.Replica.AccessKeyID, c.Replica.SecretAccessKey = "http://127.0.0.1:7070", "abc", "k", "s"
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := DefaultReceiver()
			tt.want(&want)
			if reflect.DeepEqual(want, DefaultReceiver()) {
				t.Fatal("test case does not change any default")
			}
			got, err := LoadReceiver(writeConfig(t, tt.src))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got  %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestLoadLabHostOverrides(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want func(*LabHost)
	}{
		{"host_id", "host_id = \"lab7\"", func(c *LabHost) { c.HostID = "lab7" }},
		{"paths.data_dir", "[paths]\ndata_dir = \"/data\"", func(c *LabHost) { c.Paths.DataDir = "/data" }},
		{"receiver.url", "[receiver]\nurl = \"https://rx.lab:8443\"", func(c *LabHost) { c.Receiver.URL = "https://rx.lab:8443" }},
		{"receiver.token", "[receiver]\ntoken = \"t\"", func(c *LabHost) { c.Receiver.Token = "t" }},
		{"receiver.token_file", "[receiver]\ntoken_file = \"/t\"", func(c *LabHost) { c.Receiver.TokenFile = "/t" }},
		{"receiver.ca_bundle", "[receiver]\nca_bundle = \"/ca.pem\"", func(c *LabHost) { c.Receiver.CABundle = "/ca.pem" }},
		{"receiver client cert", "[receiver]\nclient_cert = \"/c.pem\"\nclient_key = \"/k.pem\"", func(c *LabHost) {
			c.Receiver.ClientCert, c.Receiver.ClientKey = "/c.pem", "/k.pem"
		}},
		{"receiver.timeout_s", "[receiver]\ntimeout_s = 90", func(c *LabHost) { c.Receiver.TimeoutS = 90 }},
		{"shipper.scan_interval_s", "[shipper]\nscan_interval_s = 1", func(c *LabHost) { c.Shipper.ScanIntervalS = 1 }},
		{"shipper.settle_s", "[shipper]\nsettle_s = 0", func(c *LabHost) { c.Shipper.SettleS = 0 }},
		{"shipper.zstd_level", "[shipper]\nzstd_level = 22", func(c *LabHost) { c.Shipper.ZstdLevel = 22 }},
		{"shipper.backoff_min_s", "[shipper]\nbackoff_min_s = 2", func(c *LabHost) { c.Shipper.BackoffMinS = 2 }},
		{"shipper.backoff_max_s", "[shipper]\nbackoff_max_s = 60", func(c *LabHost) { c.Shipper.BackoffMaxS = 60 }},
		{"shipper.quarantine_keep_days", "[shipper]\nquarantine_keep_days = 0", func(c *LabHost) { c.Shipper.QuarantineKeepDays = 0 }},
		{"shipper.quarantine_cleanup_interval_s", "[shipper]\nquarantine_cleanup_interval_s = 60", func(c *LabHost) { c.Shipper.QuarantineCleanupIntervalS = 60 }},
		{"shipper.shipped_keep_days", "[shipper]\nshipped_keep_days = 7", func(c *LabHost) { c.Shipper.ShippedKeepDays = 7 }},
		{"doctor.since", "[doctor]\nsince = \"2h30m\"", func(c *LabHost) { c.Doctor.Since = 150 * time.Minute }},
		{"doctor.cert_warn_days", "[doctor]\ncert_warn_days = 30", func(c *LabHost) { c.Doctor.CertWarnDays = 30 }},
		{"doctor.min_free_bytes", "[doctor]\nmin_free_bytes = 5", func(c *LabHost) { c.Doctor.MinFreeBytes = 5 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := DefaultLabHost("lab1")
			tt.want(&want)
			if reflect.DeepEqual(want, DefaultLabHost("lab1")) {
				t.Fatal("test case does not change any default")
			}
			got, err := LoadLabHost(writeConfig(t, tt.src), "lab1")
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got  %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name    string
		labHost bool
		src     string
		line    int
		col     int
		key     string
		msgPart string
	}{
		{"unknown key", false, "[server]\n\nlistne = \"x\"", 3, 1, "server.listne", "unknown key"},
		{"unknown table", false, "[servre]\nlisten = \"x\"", 1, 1, "servre", "unknown table"},
		{"unknown subtable", false, "[server.extra]", 1, 1, "server.extra", "unknown table"},
		{"unknown root key", false, "listen = \"x\"", 1, 1, "listen", "unknown key"},
		{"dotted key named as written", false, "[server]\nserver.listen = \"127.0.0.1:1\"", 2, 7, "server.server.listen", "dotted keys are not supported"},
		{"unknown dotted key named as written", false, "[server]\nfoo.bar = 1", 2, 4, "server.foo.bar", "dotted keys are not supported"},
		{"table where key expected", false, "[server.listen]", 1, 1, "server.listen", "not a table"},
		{"key where table expected", false, "server = 1", 1, 1, "server", "not a key"},
		{"table under auth.hosts", false, "[auth.hosts.lab1]", 1, 1, "auth.hosts.lab1", "unknown table"},
		{"wrong type string", false, "[server]\nlisten = 8490", 2, 10, "server.listen", "want a string, got an integer"},
		{"wrong type int", false, "[server]\nmax_body_bytes = \"4G\"", 2, 18, "server.max_body_bytes", "want an integer, got a string"},
		{"wrong type bool", false, "[version_gate]\nenabled = 1", 2, 11, "version_gate.enabled", "want a boolean"},
		{"wrong array type", false, "[fleet_health]\nexpected_hosts = [1]", 2, 18, "fleet_health.expected_hosts", "array of host id strings"},
		{"negative size", false, "[server]\nmin_free_bytes = -1", 2, 18, "server.min_free_bytes", "out of range"},
		{"zero body limit", false, "[server]\nmax_body_bytes = 0", 2, 18, "server.max_body_bytes", "out of range"},
		{"window below 1", false, "[version_gate]\nwindow = 0", 2, 10, "version_gate.window", "out of range"},
		{"bad listen", false, "[server]\nlisten = \"localhost\"", 2, 10, "server.listen", "host:port"},
		{"bad header name", false, "[auth]\nclient_subject_header = \"X Subject\"", 2, 25, "auth.client_subject_header", "header name"},
		{"bad host key", false, "[auth.hosts]\n_lab = \"/t\"", 2, 1, "auth.hosts._lab", "valid host id"},
		{"empty host token path", false, "[auth.hosts]\nlab1 = \"\"", 2, 1, "auth.hosts.lab1", "empty"},
		{"bad expected host", false, "[fleet_health]\nexpected_hosts = [\"ok\", \"-bad\"]", 2, 18, "fleet_health.expected_hosts", "valid host id"},
		{"bad forgejo url", false, "[version_gate]\nforgejo_url = \"git.lab\"", 2, 15, "version_gate.forgejo_url", "URL"},
		{"forgejo without repo", false, "[version_gate]\nforgejo_url = \"https://git.lab\"", 2, 15, "version_gate.forgejo_url", "repo_owner"},
		{"token and token_file", false, "[auth]\ntoken = \"a\"\ntoken_file = \"/b\"", 3, 14, "auth.token_file", "not both"},
		{"cert without key", false, "[tls]\ncert_file = \"/c\"", 2, 13, "tls.cert_file", "tls.key_file"},
		{"client ca without cert", false, "[tls]\nclient_ca_file = \"/ca\"", 2, 18, "tls.client_ca_file", "cert_file"},
		{"replica without bucket", false, "[replica]\nendpoint = \"http://s3\"", 2, 12, "replica.endpoint", "needs replica.bucket"},
		{"replica without secret", false, "[replica]\nendpoint = \"http://s3\"\nbucket = \"abc\"\naccess_key_id = \"k\"", 2, 12, "replica.endpoint", "secret_access_key"},
		{"replica bucket without endpoint", false, "[replica]\nbucket = \"abc\"", 2, 10, "replica.bucket", "needs replica.endpoint"},
		{"replica bad bucket", false, "[replica]\nbucket = \"A_b\"", 2, 10, "replica.bucket", "bucket name"},
		{"replica bad prefix", false, "[replica]\nprefix = \"/x\"", 2, 10, "replica.prefix", "key prefix"},
		{"replica both secrets", false, "[replica]\nsecret_access_key = \"s\"\nsecret_access_key_file = \"/s\"", 3, 26, "replica.secret_access_key_file", "not both"},
		{"replica concurrency 0", false, "[replica]\nconcurrency = 0", 2, 15, "replica.concurrency", "out of range"},
		{"parse error", false, "[server]\nlisten = 1.5", 2, 10, "server.listen", "floats"},
		{"duplicate key", false, "[server]\nlisten = \":1\"\nlisten = \":2\"", 3, 1, "server.listen", "duplicate"},
		{"zstd level 0", true, "[shipper]\nzstd_level = 0", 2, 14, "shipper.zstd_level", "1..22"},
		{"zstd level 23", true, "[shipper]\nzstd_level = 23", 2, 14, "shipper.zstd_level", "1..22"},
		{"bad host_id", true, "host_id = \"lab 1\"", 1, 11, "host_id", "valid host id"},
		{"bad url", true, "[receiver]\nurl = \"ftp://x\"", 2, 7, "receiver.url", "URL"},
		{"timeout zero", true, "[receiver]\ntimeout_s = 0", 2, 13, "receiver.timeout_s", "out of range"},
		{"negative keep days", true, "[shipper]\nshipped_keep_days = -1", 2, 21, "shipper.shipped_keep_days", "out of range"},
		{"backoff inverted", true, "[shipper]\nbackoff_min_s = 10\nbackoff_max_s = 5", 3, 17, "shipper.backoff_max_s", "exceeds"},
		{"backoff min above default max", true, "[shipper]\nbackoff_min_s = 900", 2, 17, "shipper.backoff_min_s", "exceeds"},
		{"cert without key on lab host", true, "[receiver]\nclient_key = \"/k\"", 2, 14, "receiver.client_key", "client_cert"},
		{"bad duration", true, "[doctor]\nsince = \"10 minutes\"", 2, 9, "doctor.since", "duration"},
		{"zero duration", true, "[doctor]\nsince = \"0s\"", 2, 9, "doctor.since", "not positive"},
		{"duration as integer", true, "[doctor]\nsince = 600", 2, 9, "doctor.since", "duration string"},
		{"unknown lab host table", true, "[server]", 1, 1, "server", "unknown table"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeConfig(t, tt.src)
			var err error
			if tt.labHost {
				_, err = LoadLabHost(path, "lab1")
			} else {
				_, err = LoadReceiver(path)
			}
			var cerr *Error
			if !errors.As(err, &cerr) {
				t.Fatalf("got %v, want *config.Error", err)
			}
			if cerr.File != path || cerr.Line != tt.line || cerr.Col != tt.col || cerr.Key != tt.key {
				t.Errorf("got %s:%d:%d key %q, want %s:%d:%d key %q (%v)",
					cerr.File, cerr.Line, cerr.Col, cerr.Key, path, tt.line, tt.col, tt.key, err)
			}
			if !strings.Contains(cerr.Msg, tt.msgPart) {
				t.Errorf("message %q does not contain %q", cerr.Msg, tt.msgPart)
			}
			if !strings.HasPrefix(err.Error(), path+":") {
				t.Errorf("%q does not start with the file name", err)
			}
		})
	}
}

func TestErrorString(t *testing.T) {
	tests := []struct {
		name string
		err  *Error
		want string
	}{
		{"full", &Error{File: "/etc/cis490/receiver.toml", Line: 3, Col: 1, Key: "server.listne", Msg: "unknown key"},
			`/etc/cis490/receiver.toml:3:1: key "server.listne": unknown key`},
		{"no position", &Error{File: "/x.toml", Msg: "no such file or directory"}, `/x.toml: no such file or directory`},
		{"no file", &Error{Key: "host_id", Msg: "not set"}, `key "host_id": not set`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.err.Error(); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestLoadMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "absent.toml")
	for name, load := range map[string]func() error{
		"receiver": func() error { _, err := LoadReceiver(path); return err },
		"lab host": func() error { _, err := LoadLabHost(path, "lab1"); return err },
	} {
		t.Run(name, func(t *testing.T) {
			err := load()
			if !errors.Is(err, os.ErrNotExist) {
				t.Errorf("got %v, want an error wrapping os.ErrNotExist", err)
			}
			var cerr *Error
			if !errors.As(err, &cerr) || cerr.File != path {
				t.Errorf("got %v, want a *config.Error naming %s", err, path)
			}
		})
	}
}
