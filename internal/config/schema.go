package config

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"cis490/internal/toml"
	"cis490/internal/wire"
)

// Upper bounds for integer keys: seconds and counts stay far below the point
// where time.Duration(n)*time.Second or a slice length would overflow.
const (
	maxSeconds = math.MaxInt32
	maxCount   = math.MaxInt32
	maxBytes   = math.MaxInt64
)

// receiverSchema maps every key of receiver.toml (SPEC §7, §10, §11) to the
// field of c it sets.
func receiverSchema(c *Receiver) *section {
	s, a, t, g, f, r := &c.Server, &c.Auth, &c.TLS, &c.VersionGate, &c.FleetHealth, &c.Replica
	return &section{tables: map[string]*section{
		"server": {keys: map[string]setter{
			"listen":                 stringKey(&s.Listen, hostPort),
			"data_dir":               stringKey(&s.DataDir, nonEmpty),
			"max_body_bytes":         intKey(&s.MaxBodyBytes, 1, maxBytes),
			"min_free_bytes":         intKey(&s.MinFreeBytes, 0, maxBytes),
			"max_concurrent_uploads": intKey(&s.MaxConcurrentUploads, 1, maxCount),
			"body_idle_timeout_s":    intKey(&s.BodyIdleTimeoutS, 1, maxSeconds),
			"attempts_max_bytes":     intKey(&s.AttemptsMaxBytes, 1, maxBytes),
			"min_body_rate":          intKey(&s.MinBodyRate, 0, maxBytes),
			"max_hosts":              intKey(&s.MaxHosts, 1, maxCount),
		}},
		"auth": {
			keys: map[string]setter{
				"token":                 stringKey(&a.Token, nil),
				"token_file":            stringKey(&a.TokenFile, nil),
				"client_subject_header": stringKey(&a.ClientSubjectHeader, headerName),
			},
			tables: map[string]*section{"hosts": {free: func(host string, v *toml.Value) error {
				if !wire.ValidHost(host) {
					return errors.New("not a valid host id (want [A-Za-z0-9][A-Za-z0-9._-]{0,63})")
				}
				var file string
				if err := stringKey(&file, nonEmpty)(v); err != nil {
					return err
				}
				if a.Hosts == nil {
					a.Hosts = make(map[string]string)
				}
				a.Hosts[host] = file
				return nil
			}}},
		},
		"tls": {keys: map[string]setter{
			"cert_file":      stringKey(&t.CertFile, nil),
			"key_file":       stringKey(&t.KeyFile, nil),
			"client_ca_file": stringKey(&t.ClientCAFile, nil),
		}},
		"version_gate": {keys: map[string]setter{
			"enabled":         boolKey(&g.Enabled),
			"forgejo_url":     stringKey(&g.ForgejoURL, optionalHTTPURL),
			"repo_owner":      stringKey(&g.RepoOwner, nil),
			"repo_name":       stringKey(&g.RepoName, nil),
			"branch":          stringKey(&g.Branch, nonEmpty),
			"auth_token":      stringKey(&g.AuthToken, nil),
			"auth_token_file": stringKey(&g.AuthTokenFile, nil),
			"repo_path":       stringKey(&g.RepoPath, nil),
			"window":          intKey(&g.Window, 1, maxCount),
			"refresh_s":       intKey(&g.RefreshS, 1, maxSeconds),
			"remediation":     stringKey(&g.Remediation, nil),
		}},
		"fleet_health": {keys: map[string]setter{
			"active_window_s":    intKey(&f.ActiveWindowS, 1, maxSeconds),
			"silent_after_s":     intKey(&f.SilentAfterS, 1, maxSeconds),
			"fatal_window_s":     intKey(&f.FatalWindowS, 1, maxSeconds),
			"fatal_min_attempts": intKey(&f.FatalMinAttempts, 1, maxCount),
			"health_max_age_s":   intKey(&f.HealthMaxAgeS, 1, maxSeconds),
			"expected_hosts":     hostsKey(&f.ExpectedHosts),
			"notify_command":     stringKey(&f.NotifyCommand, nil),
			"replica_max_lag_s":  intKey(&f.ReplicaMaxLagS, 1, maxSeconds),
		}},
		"replica": {keys: map[string]setter{
			"endpoint":               stringKey(&r.Endpoint, optionalHTTPURL),
			"bucket":                 stringKey(&r.Bucket, bucketName),
			"prefix":                 stringKey(&r.Prefix, objectPrefix),
			"region":                 stringKey(&r.Region, nonEmpty),
			"access_key_id":          stringKey(&r.AccessKeyID, nil),
			"access_key_id_file":     stringKey(&r.AccessKeyIDFile, nil),
			"secret_access_key":      stringKey(&r.SecretAccessKey, nil),
			"secret_access_key_file": stringKey(&r.SecretAccessKeyFile, nil),
			"ca_file":                stringKey(&r.CAFile, nil),
			"path_style":             boolKey(&r.PathStyle),
			"concurrency":            intKey(&r.Concurrency, 1, 64),
			"local_keep_days":        intKey(&r.LocalKeepDays, 0, maxCount),
		}},
		"releases": {keys: map[string]setter{
			"public_key_file": stringKey(&c.Releases.PublicKeyFile, nonEmpty),
		}},
		"pki": {keys: map[string]setter{
			"dir":          stringKey(&c.PKI.Dir, nonEmpty),
			"ca_cert_file": stringKey(&c.PKI.CACertFile, nil),
			"ca_key_file":  stringKey(&c.PKI.CAKeyFile, nil),
			"cert_days":    intKey(&c.PKI.CertDays, 1, 825),
			"join_ttl_s":   intKey(&c.PKI.JoinTTLS, 60, 30*86400),
			"public_url":   stringKey(&c.PKI.PublicURL, optionalHTTPURL),
		}},
	}}
}

// labHostSchema maps every key of lab-host.toml (SPEC §11) to the field of c
// it sets.
func labHostSchema(c *LabHost) *section {
	r, s, d, u := &c.Receiver, &c.Shipper, &c.Doctor, &c.Update
	return &section{
		keys: map[string]setter{"host_id": stringKey(&c.HostID, validHost)},
		tables: map[string]*section{
			"paths": {keys: map[string]setter{
				"data_dir": stringKey(&c.Paths.DataDir, nonEmpty),
			}},
			"receiver": {keys: map[string]setter{
				"url":         stringKey(&r.URL, httpURL),
				"token":       stringKey(&r.Token, nil),
				"token_file":  stringKey(&r.TokenFile, nil),
				"ca_bundle":   stringKey(&r.CABundle, nil),
				"client_cert": stringKey(&r.ClientCert, nil),
				"client_key":  stringKey(&r.ClientKey, nil),
				"timeout_s":   intKey(&r.TimeoutS, 1, maxSeconds),
			}},
			"shipper": {keys: map[string]setter{
				"scan_interval_s":               intKey(&s.ScanIntervalS, 1, maxSeconds),
				"settle_s":                      intKey(&s.SettleS, 0, maxSeconds),
				"zstd_level":                    intKey(&s.ZstdLevel, 1, 22),
				"backoff_min_s":                 intKey(&s.BackoffMinS, 1, maxSeconds),
				"backoff_max_s":                 intKey(&s.BackoffMaxS, 1, maxSeconds),
				"quarantine_keep_days":          intKey(&s.QuarantineKeepDays, 0, maxCount),
				"quarantine_cleanup_interval_s": intKey(&s.QuarantineCleanupIntervalS, 1, maxSeconds),
				"shipped_keep_days":             intKey(&s.ShippedKeepDays, 0, maxCount),
			}},
			"doctor": {keys: map[string]setter{
				"since":          durationKey(&d.Since),
				"cert_warn_days": intKey(&d.CertWarnDays, 0, maxCount),
				"min_free_bytes": intKey(&d.MinFreeBytes, 0, maxBytes),
			}},
			"update": {keys: map[string]setter{
				"enabled":            boolKey(&u.Enabled),
				"public_key_file":    stringKey(&u.PublicKeyFile, nonEmpty),
				"ring":               stringKey(&u.Ring, ring),
				"health_s":           intKey(&u.HealthS, 1, 3600),
				"code_repo":          stringKey(&u.CodeRepo, absPathOrEmpty),
				"code_branch":        stringKey(&u.CodeBranch, gitBranch),
				"code_user":          stringKey(&u.CodeUser, nonEmpty),
				"code_restart_units": unitsKey(&u.CodeRestartUnits),
			}},
		},
	}
}

// checkReceiver enforces rules that span keys.
func checkReceiver(d *decoder, c *Receiver) error {
	if err := d.exclusive("auth.token", c.Auth.Token, "auth.token_file", c.Auth.TokenFile); err != nil {
		return err
	}
	if err := d.together("tls.cert_file", c.TLS.CertFile, "tls.key_file", c.TLS.KeyFile); err != nil {
		return err
	}
	if c.TLS.ClientCAFile != "" && c.TLS.CertFile == "" {
		return d.errAt(d.set["tls.client_ca_file"], "tls.client_ca_file",
			"needs tls.cert_file and tls.key_file: client certificates are checked only when the receiver serves TLS itself")
	}
	g := c.VersionGate
	if err := d.exclusive("version_gate.auth_token", g.AuthToken, "version_gate.auth_token_file", g.AuthTokenFile); err != nil {
		return err
	}
	if g.ForgejoURL != "" && (g.RepoOwner == "" || g.RepoName == "") {
		return d.errAt(d.set["version_gate.forgejo_url"], "version_gate.forgejo_url",
			"needs version_gate.repo_owner and version_gate.repo_name")
	}
	return checkReplica(d, c.Replica)
}

// checkLabHost enforces rules that span keys.
func checkLabHost(d *decoder, c *LabHost) error {
	if err := checkHostID(d, c); err != nil {
		return err
	}
	r := c.Receiver
	if err := d.exclusive("receiver.token", r.Token, "receiver.token_file", r.TokenFile); err != nil {
		return err
	}
	if err := d.together("receiver.client_cert", r.ClientCert, "receiver.client_key", r.ClientKey); err != nil {
		return err
	}
	if s := c.Shipper; s.BackoffMinS > s.BackoffMaxS {
		key := "shipper.backoff_max_s"
		if _, ok := d.set[key]; !ok {
			key = "shipper.backoff_min_s"
		}
		return d.errAt(d.set[key], key, "backoff_min_s (%d) exceeds backoff_max_s (%d)", s.BackoffMinS, s.BackoffMaxS)
	}
	return nil
}

// checkHostID rejects a host_id that came from an unusable hostname: a
// host_id from the file was already checked when it was set.
func checkHostID(d *decoder, c *LabHost) error {
	if wire.ValidHost(c.HostID) {
		return nil
	}
	return &Error{File: d.file, Key: "host_id",
		Msg: fmt.Sprintf("not set, and the hostname %q is not a valid host id; set host_id", c.HostID)}
}

// exclusive rejects setting both a and b (e.g. token and token_file).
func (d *decoder) exclusive(a, av, b, bv string) error {
	if av != "" && bv != "" {
		return d.errAt(d.set[b], b, "set %s or %s, not both", a, b)
	}
	return nil
}

// together rejects setting only one of a pair (certificate and key).
func (d *decoder) together(a, av, b, bv string) error {
	switch {
	case av != "" && bv == "":
		return d.errAt(d.set[a], a, "needs %s as well", b)
	case av == "" && bv != "":
		return d.errAt(d.set[b], b, "needs %s as well", a)
	}
	return nil
}

func wrongType(want string, v *toml.Value) error {
	got := "a " + v.Kind.String()
	switch v.Kind {
	case toml.KindInteger, toml.KindArray:
		got = "an " + v.Kind.String()
	}
	return fmt.Errorf("wrong type: want %s, got %s", want, got)
}

func stringKey(p *string, check func(string) error) setter {
	return func(v *toml.Value) error {
		if v.Kind != toml.KindString {
			return wrongType("a string", v)
		}
		if check != nil {
			if err := check(v.Str); err != nil {
				return err
			}
		}
		*p = v.Str
		return nil
	}
}

func intKey[T int | int64](p *T, lo, hi int64) setter {
	return func(v *toml.Value) error {
		if v.Kind != toml.KindInteger {
			return wrongType("an integer", v)
		}
		if v.Int < lo || v.Int > hi {
			if v.Int < lo && (hi == maxBytes || hi == maxCount) {
				return fmt.Errorf("out of range: %d is below %d", v.Int, lo)
			}
			return fmt.Errorf("out of range: %d is not in %d..%d", v.Int, lo, hi)
		}
		*p = T(v.Int)
		return nil
	}
}

func boolKey(p *bool) setter {
	return func(v *toml.Value) error {
		if v.Kind != toml.KindBool {
			return wrongType("a boolean (true or false)", v)
		}
		*p = v.Bool
		return nil
	}
}

// hostsKey reads an array of host ids; an empty array leaves nil, like the default.
func hostsKey(p *[]string) setter {
	return func(v *toml.Value) error {
		if v.Kind != toml.KindArray || (len(v.Array) > 0 && v.Array[0].Kind != toml.KindString) {
			return wrongType("an array of host id strings", v)
		}
		var hosts []string
		for _, e := range v.Array {
			if !wire.ValidHost(e.Str) {
				return fmt.Errorf("%q is not a valid host id", e.Str)
			}
			hosts = append(hosts, e.Str)
		}
		*p = hosts
		return nil
	}
}

// durationKey reads a Go duration string such as "10m" or "2h".
func durationKey(p *time.Duration) setter {
	return func(v *toml.Value) error {
		if v.Kind != toml.KindString {
			return wrongType(`a duration string such as "10m"`, v)
		}
		dur, err := time.ParseDuration(v.Str)
		if err != nil {
			return fmt.Errorf("want a duration such as \"10m\" or \"2h\": %q does not parse", v.Str)
		}
		if dur <= 0 {
			return fmt.Errorf("out of range: %s is not positive", v.Str)
		}
		*p = dur
		return nil
	}
}

// ring accepts the update rings: "" (the rollout's ramp) or "canary".
func ring(s string) error {
	if s != "" && s != "canary" {
		return fmt.Errorf("want \"\" or \"canary\", got %q", s)
	}
	return nil
}

func absPathOrEmpty(s string) error {
	if s != "" && !strings.HasPrefix(s, "/") {
		return fmt.Errorf("want an absolute path, got %q", s)
	}
	return nil
}

// gitBranch accepts a branch name git would take that cannot pass for an
// option.
func gitBranch(s string) error {
	if s == "" || strings.HasPrefix(s, "-") || strings.ContainsAny(s, " ~^:?*[\\\x00") || strings.Contains(s, "..") {
		return fmt.Errorf("%q is not a usable branch name", s)
	}
	return nil
}

// unitsKey reads an array of systemd unit names.
func unitsKey(p *[]string) setter {
	return func(v *toml.Value) error {
		if v.Kind != toml.KindArray || (len(v.Array) > 0 && v.Array[0].Kind != toml.KindString) {
			return wrongType("an array of unit name strings", v)
		}
		var units []string
		for _, e := range v.Array {
			if e.Str == "" || strings.HasPrefix(e.Str, "-") || strings.ContainsAny(e.Str, " /\t\n") {
				return fmt.Errorf("%q is not a unit name", e.Str)
			}
			units = append(units, e.Str)
		}
		*p = units
		return nil
	}
}

// checkReplica enforces the [replica] rules: with an endpoint, a bucket and
// both credentials (inline or from a file, not both).
func checkReplica(d *decoder, r Replica) error {
	if err := d.exclusive("replica.access_key_id", r.AccessKeyID, "replica.access_key_id_file", r.AccessKeyIDFile); err != nil {
		return err
	}
	if err := d.exclusive("replica.secret_access_key", r.SecretAccessKey, "replica.secret_access_key_file", r.SecretAccessKeyFile); err != nil {
		return err
	}
	if r.Endpoint == "" {
		for _, k := range []string{"bucket", "access_key_id", "access_key_id_file", "secret_access_key",
			"secret_access_key_file", "ca_file"} {
			if pos, ok := d.set["replica."+k]; ok {
				return d.errAt(pos, "replica."+k, "needs replica.endpoint (replication is off without it)")
			}
		}
		return nil
	}
	pos := d.set["replica.endpoint"]
	switch {
	case r.Bucket == "":
		return d.errAt(pos, "replica.endpoint", "needs replica.bucket")
	case r.AccessKeyID == "" && r.AccessKeyIDFile == "":
		return d.errAt(pos, "replica.endpoint", "needs replica.access_key_id_file (or access_key_id)")
	case r.SecretAccessKey == "" && r.SecretAccessKeyFile == "":
		return d.errAt(pos, "replica.endpoint", "needs replica.secret_access_key_file (or secret_access_key)")
	}
	return nil
}

// bucketName accepts an S3 bucket name: 3 to 63 of [a-z0-9.-], starting
// and ending with a letter or digit.
func bucketName(s string) error {
	ok := len(s) >= 3 && len(s) <= 63
	for i := 0; ok && i < len(s); i++ {
		c := s[i]
		edge := i == 0 || i == len(s)-1
		ok = c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || !edge && (c == '.' || c == '-')
	}
	if !ok {
		return fmt.Errorf("%q is not an S3 bucket name (3 to 63 of a-z 0-9 . -, starting and ending with a letter or digit)", s)
	}
	return nil
}

// objectPrefix accepts "" or a key prefix ending in "/" without empty or
// dot segments.
func objectPrefix(s string) error {
	if s == "" {
		return nil
	}
	if !strings.HasSuffix(s, "/") || strings.HasPrefix(s, "/") || strings.Contains(s, "//") ||
		strings.Contains("/"+s, "/./") || strings.Contains("/"+s, "/../") {
		return fmt.Errorf("want a key prefix such as \"cis490/\" (ending in /, no empty, . or .. parts), got %q", s)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return fmt.Errorf("control character in prefix %q", s)
		}
	}
	return nil
}

func nonEmpty(s string) error {
	if s == "" {
		return errors.New("must not be empty")
	}
	return nil
}

func validHost(s string) error {
	if !wire.ValidHost(s) {
		return fmt.Errorf("%q is not a valid host id (want [A-Za-z0-9][A-Za-z0-9._-]{0,63})", s)
	}
	return nil
}

// hostPort accepts a listen address such as "127.0.0.1:8490" or ":8490".
func hostPort(s string) error {
	_, port, err := net.SplitHostPort(s)
	if err == nil {
		_, err = strconv.ParseUint(port, 10, 16)
	}
	if err != nil {
		return fmt.Errorf("want host:port such as \"127.0.0.1:8490\", got %q", s)
	}
	return nil
}

func httpURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("want an http:// or https:// URL, got %q", s)
	}
	return nil
}

func optionalHTTPURL(s string) error {
	if s == "" {
		return nil
	}
	return httpURL(s)
}

// headerName accepts an empty string (unset) or an HTTP header field name.
func headerName(s string) error {
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '-' || c == '_' || c == '.' || c == '!' || c == '#' || c == '$' || c == '%' ||
			c == '&' || c == '\'' || c == '*' || c == '+' || c == '^' || c == '`' || c == '|' || c == '~'
		if !ok {
			return fmt.Errorf("%q is not an HTTP header name", s)
		}
	}
	return nil
}
