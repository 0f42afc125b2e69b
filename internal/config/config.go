// Package config holds the receiver's and lab host's configuration, their
// built-in defaults (SPEC §11) and the strict loader that reads them from the
// TOML subset.
package config

import (
	"path/filepath"
	"time"
)

// Default paths of the config files.
const (
	ReceiverPath = "/etc/cis490/receiver.toml"
	LabHostPath  = "/etc/cis490/lab-host.toml"
)

// DefaultRemediation is the text returned with gate refusals: one shell
// line an operator can paste into a lab host (SPEC §7, §13). `update`
// brings the experiment checkout and the cis490 release up to date and
// restarts what changed; a release install has no git checkout to pull.
const DefaultRemediation = "sudo cis490-shipper update"

// Receiver is receiver.toml.
type Receiver struct {
	Server      Server
	Auth        Auth
	TLS         TLS
	VersionGate VersionGate
	FleetHealth FleetHealth
	Replica     Replica
	Releases    Releases
	PKI         PKI
}

// Server is the [server] table.
type Server struct {
	Listen               string
	DataDir              string
	MaxBodyBytes         int64
	MinFreeBytes         int64
	MaxConcurrentUploads int
	BodyIdleTimeoutS     int
	AttemptsMaxBytes     int64
	// MinBodyRate is the slowest a body may arrive, in bytes/s averaged
	// over 30 s after its first 10 s (SPEC §4.2); 0 turns the check off.
	MinBodyRate int64
	// MaxHosts bounds the distinct host-health report files (SPEC §4.5).
	MaxHosts int
}

// Auth is the [auth] and [auth.hosts] tables.
type Auth struct {
	Token               string
	TokenFile           string
	ClientSubjectHeader string
	Hosts               map[string]string // host id -> token file path
}

// TLS is the [tls] table.
type TLS struct {
	CertFile     string
	KeyFile      string
	ClientCAFile string
}

// PKI is the [pki] table (SPEC §14): the fleet CA that signs the
// certificates of joining hosts. Empty file names mean the files of Dir.
type PKI struct {
	Dir        string
	CACertFile string
	CAKeyFile  string
	CertDays   int
	JoinTTLS   int
	PublicURL  string
}

// CACert returns the CA certificate file: ca_cert_file, else dir/ca.crt.
func (p PKI) CACert() string { return orJoin(p.CACertFile, p.Dir, "ca.crt") }

// CAKey returns the CA key file: ca_key_file, else dir/ca.key.
func (p PKI) CAKey() string { return orJoin(p.CAKeyFile, p.Dir, "ca.key") }

func orJoin(file, dir, name string) string {
	if file != "" {
		return file
	}
	return filepath.Join(dir, name)
}

// VersionGate is the [version_gate] table (SPEC §7).
type VersionGate struct {
	Enabled       bool
	ForgejoURL    string
	RepoOwner     string
	RepoName      string
	Branch        string
	AuthToken     string
	AuthTokenFile string
	RepoPath      string
	Window        int
	RefreshS      int
	Remediation   string
}

// FleetHealth is the [fleet_health] table (SPEC §10).
type FleetHealth struct {
	ActiveWindowS    int
	SilentAfterS     int
	FatalWindowS     int
	FatalMinAttempts int
	HealthMaxAgeS    int
	ExpectedHosts    []string
	NotifyCommand    string
	// ReplicaMaxLagS is the age in seconds of the oldest episode not yet
	// replicated past which the receiver has the replica-lag symptom.
	ReplicaMaxLagS int
}

// Replica is the [replica] table (SPEC §17): where the receiver copies the
// dataset. Replication is off while Endpoint is empty.
type Replica struct {
	Endpoint            string
	Bucket              string
	Prefix              string
	Region              string
	AccessKeyID         string
	AccessKeyIDFile     string
	SecretAccessKey     string
	SecretAccessKeyFile string
	CAFile              string
	PathStyle           bool
	Concurrency         int
	LocalKeepDays       int
}

// Enabled reports whether replication is configured.
func (r Replica) Enabled() bool { return r.Endpoint != "" }

// Releases is the receiver's [releases] table (SPEC §15).
type Releases struct {
	// PublicKeyFile is the release signing key's public half: publish
	// verifies with it and GET /v1/releases/key serves it.
	PublicKeyFile string
}

// DefaultReceiver returns the built-in receiver configuration: a loopback
// trial with auth off.
func DefaultReceiver() Receiver {
	return Receiver{
		Server: Server{
			Listen:               "127.0.0.1:8490",
			DataDir:              "/var/lib/cis490",
			MaxBodyBytes:         4 << 30,
			MinFreeBytes:         1 << 30,
			MaxConcurrentUploads: 32,
			BodyIdleTimeoutS:     60,
			MinBodyRate:          1024,
			MaxHosts:             1000,
			AttemptsMaxBytes:     64 << 20,
		},
		VersionGate: VersionGate{
			Enabled:     true,
			Branch:      "main",
			Window:      100,
			RefreshS:    5,
			Remediation: DefaultRemediation,
		},
		FleetHealth: FleetHealth{
			ActiveWindowS:    86400,
			SilentAfterS:     1800,
			FatalWindowS:     3600,
			FatalMinAttempts: 3,
			HealthMaxAgeS:    129600,
			ReplicaMaxLagS:   3600,
		},
		Replica: Replica{
			Region:      "us-east-1",
			PathStyle:   true,
			Concurrency: 2,
		},
		Releases: Releases{PublicKeyFile: DefaultReleaseKey},
		PKI: PKI{
			Dir:      "/etc/cis490/pki",
			CertDays: 90,
			JoinTTLS: 86400,
		},
	}
}

// DefaultReleaseKey is where both ends keep the release public key.
const DefaultReleaseKey = "/etc/cis490/release.pub"

// LabHost is lab-host.toml, shared by the shipper and the doctor.
type LabHost struct {
	HostID   string
	Paths    Paths
	Receiver ReceiverClient
	Shipper  Shipper
	Doctor   Doctor
	Update   Update
}

// Paths is the [paths] table.
type Paths struct {
	DataDir string
}

// ReceiverClient is the lab host's [receiver] table.
type ReceiverClient struct {
	URL        string
	Token      string
	TokenFile  string
	CABundle   string
	ClientCert string
	ClientKey  string
	TimeoutS   int
}

// Shipper is the [shipper] table.
type Shipper struct {
	ScanIntervalS              int
	SettleS                    int
	ZstdLevel                  int
	BackoffMinS                int
	BackoffMaxS                int
	QuarantineKeepDays         int
	QuarantineCleanupIntervalS int
	ShippedKeepDays            int
}

// Doctor is the [doctor] table.
type Doctor struct {
	Since        time.Duration
	CertWarnDays int
	MinFreeBytes int64
}

// Update is the lab host's [update] table (SPEC §15).
type Update struct {
	Enabled          bool
	PublicKeyFile    string
	Ring             string // "" or "canary"
	HealthS          int
	CodeRepo         string
	CodeBranch       string
	CodeUser         string
	CodeRestartUnits []string
}

// DefaultLabHost returns the built-in lab host configuration; host_id is the
// machine's hostname.
func DefaultLabHost(hostname string) LabHost {
	return LabHost{
		HostID: hostname,
		Paths:  Paths{DataDir: "/opt/cis490/data"},
		Receiver: ReceiverClient{
			URL:      "http://127.0.0.1:8490",
			TimeoutS: 30,
		},
		Shipper: Shipper{
			ScanIntervalS:              5,
			SettleS:                    10,
			ZstdLevel:                  3,
			BackoffMinS:                5,
			BackoffMaxS:                600,
			QuarantineKeepDays:         30,
			QuarantineCleanupIntervalS: 3600,
			ShippedKeepDays:            0,
		},
		Doctor: Doctor{
			Since:        10 * time.Minute,
			CertWarnDays: 14,
			MinFreeBytes: 2 << 30,
		},
		Update: Update{
			Enabled:       true,
			PublicKeyFile: DefaultReleaseKey,
			HealthS:       300,
			CodeBranch:    "main",
			CodeUser:      "cis490",
		},
	}
}
