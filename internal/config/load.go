package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"cis490/internal/toml"
	"cis490/internal/wire"
)

// Error is a config error: a file that cannot be read, does not parse, or
// holds an unknown, mistyped or out-of-range key (SPEC §11). Every binary
// exits 2 on it (SPEC §13). Line and Col are 0 when the error has no
// position; Err holds the underlying error, if any (os.ErrNotExist for a
// missing file).
type Error struct {
	File string
	Line int
	Col  int
	Key  string
	Msg  string
	Err  error
}

// Error formats the error as `file:line:col: key "k": msg`, leaving out the
// parts that are unknown.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d:%d", e.Line, e.Col)
	}
	if b.Len() > 0 {
		b.WriteString(": ")
	}
	if e.Key != "" {
		fmt.Fprintf(&b, "key %q: ", e.Key)
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// LoadReceiver reads the receiver config at path over DefaultReceiver.
func LoadReceiver(path string) (Receiver, error) {
	data, err := readConfig(path)
	if err != nil {
		return Receiver{}, err
	}
	return decodeReceiver(path, data)
}

// LoadLabHost reads the lab host config at path over DefaultLabHost(hostname).
// The result's HostID is always valid: a file without host_id and a hostname
// that is not a valid host id is an error.
func LoadLabHost(path, hostname string) (LabHost, error) {
	data, err := readConfig(path)
	if err != nil {
		return LabHost{}, err
	}
	return decodeLabHost(path, data, hostname)
}

// decodeReceiver is LoadReceiver for data already read from file.
func decodeReceiver(file string, data []byte) (Receiver, error) {
	c := DefaultReceiver()
	d, err := decode(file, data, receiverSchema(&c))
	if err != nil {
		return Receiver{}, err
	}
	if err := checkReceiver(d, &c); err != nil {
		return Receiver{}, err
	}
	return c, nil
}

// decodeLabHost is LoadLabHost for data already read from file.
func decodeLabHost(file string, data []byte, hostname string) (LabHost, error) {
	c := DefaultLabHost(hostname)
	d, err := decode(file, data, labHostSchema(&c))
	if err != nil {
		return LabHost{}, err
	}
	if err := checkLabHost(d, &c); err != nil {
		return LabHost{}, err
	}
	return c, nil
}

// ResolveReceiver picks and loads the receiver config. An empty flagPath
// means ReceiverPath when that file exists, else the built-in defaults with
// used == "". An explicit flagPath must exist. used names the file read.
func ResolveReceiver(flagPath string) (cfg Receiver, used string, err error) {
	return resolveReceiver(flagPath, ReceiverPath)
}

func resolveReceiver(flagPath, defaultPath string) (Receiver, string, error) {
	path := flagPath
	if path == "" {
		path = defaultPath
	}
	c, err := LoadReceiver(path)
	switch {
	case err == nil:
		return c, path, nil
	case flagPath == "" && errors.Is(err, fs.ErrNotExist):
		return DefaultReceiver(), "", nil
	}
	return Receiver{}, path, err
}

// ResolveLabHost is ResolveReceiver for the lab host config at LabHostPath.
// The default host_id is the machine's hostname (see HostIDFromHostname).
func ResolveLabHost(flagPath string) (cfg LabHost, used string, err error) {
	hostname, err := os.Hostname()
	if err != nil {
		hostname = "" // an unset host_id is reported below, naming the cause
	}
	return resolveLabHost(flagPath, LabHostPath, HostIDFromHostname(hostname))
}

func resolveLabHost(flagPath, defaultPath, hostname string) (LabHost, string, error) {
	path := flagPath
	if path == "" {
		path = defaultPath
	}
	c, err := LoadLabHost(path, hostname)
	switch {
	case err == nil:
		return c, path, nil
	case flagPath == "" && errors.Is(err, fs.ErrNotExist):
		c = DefaultLabHost(hostname)
		if err := checkHostID(newDecoder(""), &c); err != nil {
			return LabHost{}, "", err
		}
		return c, "", nil
	}
	return LabHost{}, path, err
}

// HostIDFromHostname turns a hostname into a default host_id: the hostname
// itself when it is a valid host id, else its first label, else "".
func HostIDFromHostname(hostname string) string {
	if wire.ValidHost(hostname) {
		return hostname
	}
	if first, _, _ := strings.Cut(hostname, "."); wire.ValidHost(first) {
		return first
	}
	return ""
}

// readConfig reads path, turning a failure into an *Error naming the file.
func readConfig(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		msg := err.Error()
		var pe *fs.PathError
		if errors.As(err, &pe) {
			msg = pe.Err.Error() // the path is already in File
		}
		return nil, &Error{File: path, Msg: msg, Err: err}
	}
	return data, nil
}

// decode parses data and applies it to the fields schema points into.
func decode(file string, data []byte, schema *section) (*decoder, error) {
	root, err := toml.Parse(data)
	if err != nil {
		var te *toml.Error
		if errors.As(err, &te) {
			return nil, &Error{File: file, Line: te.Line, Col: te.Col, Key: te.Key, Msg: te.Msg, Err: err}
		}
		return nil, &Error{File: file, Msg: err.Error(), Err: err}
	}
	d := newDecoder(file)
	if err := d.table(root, schema); err != nil {
		return nil, err
	}
	return d, nil
}

// setter stores one value after checking its type and range; the error's
// text becomes the message of an *Error at the value.
type setter func(v *toml.Value) error

// section describes one table: its plain keys, its subtables, and for a
// free-form table like [auth.hosts] a function taking every key.
type section struct {
	keys   map[string]setter
	tables map[string]*section
	free   func(key string, v *toml.Value) error
}

// decoder applies a parsed file to a schema and remembers where each key
// was set, for checks that involve several keys.
type decoder struct {
	file string
	set  map[string]toml.Pos // dotted key -> position of its value
}

func newDecoder(file string) *decoder {
	return &decoder{file: file, set: make(map[string]toml.Pos)}
}

func (d *decoder) errAt(pos toml.Pos, key, format string, args ...any) *Error {
	return &Error{File: d.file, Line: pos.Line, Col: pos.Col, Key: key, Msg: fmt.Sprintf(format, args...)}
}

func (d *decoder) table(t *toml.Table, s *section) error {
	for _, e := range t.Entries {
		path := t.KeyPath(e.Key)
		v := e.Value
		if s.free != nil {
			if v.Kind == toml.KindTable {
				return d.errAt(e.Pos, path, "unknown table")
			}
			if err := s.free(e.Key, v); err != nil {
				return d.errAt(e.Pos, path, "%s", err)
			}
			d.set[path] = v.Pos
			continue
		}
		if set, ok := s.keys[e.Key]; ok {
			if v.Kind == toml.KindTable {
				return d.errAt(e.Pos, path, "is a key, not a table")
			}
			if err := set(v); err != nil {
				return d.errAt(v.Pos, path, "%s", err)
			}
			d.set[path] = v.Pos
			continue
		}
		if sub, ok := s.tables[e.Key]; ok {
			if v.Kind != toml.KindTable {
				return d.errAt(e.Pos, path, "is a table ([%s]), not a key", path)
			}
			if err := d.table(v.Table, sub); err != nil {
				return err
			}
			continue
		}
		if v.Kind == toml.KindTable {
			return d.errAt(e.Pos, path, "unknown table")
		}
		return d.errAt(e.Pos, path, "unknown key")
	}
	return nil
}
