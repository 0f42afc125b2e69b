package transport

import (
	"errors"
	"net"
	"net/http"
	"strconv"

	"cis490/internal/wire"
)

// Class is how the shipper treats a failed request (SPEC §8).
type Class int

// Classes of failure.
const (
	// Transient keeps the episode and retries with backoff: 404, 429, 5xx,
	// 507, network and TLS errors, stalls, credentials not yet present, and
	// any status the table does not name.
	Transient Class = iota
	// Fatal quarantines the episode: 400, 409, 412, 413.
	Fatal
	// Credentials keeps the episode and backs off: 401, 403 are the host's
	// configuration, not the episode's.
	Credentials
)

// String returns the class name used in logs.
func (c Class) String() string {
	switch c {
	case Fatal:
		return "fatal"
	case Credentials:
		return "credentials"
	}
	return "transient"
}

// Classify maps a request error to its Class. Statuses the table of SPEC §8
// does not name (411, 405, …) are transient: keeping an episode is always
// safe, quarantining it on an unexpected answer is not.
func Classify(err error) Class {
	var we *wire.Error
	if !errors.As(err, &we) {
		return Transient
	}
	switch we.Status {
	case http.StatusBadRequest, http.StatusConflict, http.StatusPreconditionFailed, http.StatusRequestEntityTooLarge:
		return Fatal
	case http.StatusUnauthorized, http.StatusForbidden:
		return Credentials
	}
	return Transient
}

// Code returns a short stable name for a failure, for the error= key of log
// lines: the receiver's code, else a name for the local cause.
func Code(err error) string {
	var we *wire.Error
	var ne net.Error
	switch {
	case errors.As(err, &we):
		if we.Code != "" {
			return we.Code
		}
		return "http-" + strconv.Itoa(we.Status)
	case errors.Is(err, ErrCertsNotReady):
		return "credentials-not-ready"
	case errors.Is(err, ErrStalled):
		return "stalled"
	case errors.As(err, &ne):
		return "network"
	}
	return "network"
}

// Status returns the HTTP status of a refusal, or 0 for local and network
// failures.
func Status(err error) int {
	var we *wire.Error
	if errors.As(err, &we) {
		return we.Status
	}
	return 0
}
