package wire

import (
	"errors"
	"fmt"
)

// Stable error codes of the receiver's JSON error bodies (SPEC §4).
const (
	CodeUnauthorized        = "unauthorized"
	CodeBadSuffix           = "bad-suffix"
	CodeBadID               = "bad-id"
	CodeBadHost             = "bad-host"
	CodeHostMismatch        = "host-mismatch"
	CodeBadSHA256Header     = "bad-sha256-header"
	CodeBadSchemaVersion    = "bad-schema-version"
	CodeLengthRequired      = "length-required"
	CodeConflict            = "conflict"
	CodeMissingCommit       = "missing-commit"
	CodeMalformedCommit     = "malformed-commit"
	CodeCommitNotInWindow   = "commit-not-in-window"
	CodeGateUnavailable     = "gate-unavailable"
	CodeTooLarge            = "too-large"
	CodeInsufficientStorage = "insufficient-storage"
	CodeBusy                = "busy"
	CodeTooManyHosts        = "too-many-hosts"
	CodeSHAMismatch         = "sha-mismatch"
	CodeAborted             = "aborted"
	CodeBadJSON             = "bad-json"
	CodeNotFound            = "not-found"
	CodeMethodNotAllowed    = "method-not-allowed"
	CodeInternal            = "internal"
	// Answers net/http gives before any handler runs, in the JSON shape.
	CodeBadRequest              = "bad-request"
	CodeHeadersTooLarge         = "headers-too-large"
	CodeNotImplemented          = "not-implemented"
	CodeHTTPVersionNotSupported = "http-version-not-supported"
	CodeExpectationFailed       = "expectation-failed"
	CodeNoRelease               = "no-release"
	// Joining hosts and certificates (SPEC §14).
	CodeHostRevoked   = "host-revoked"
	CodePKIOff        = "pki-off"
	CodeBadCSR        = "bad-csr"
	CodeAlreadyJoined = "already-joined"
)

// Error is a receiver answer that is not a success: the HTTP status, the
// stable code, one human sentence and optional extra fields of the body.
type Error struct {
	Status     int
	Code       string
	Detail     string
	Extra      map[string]any
	RetryAfter int // seconds; 0 means no Retry-After header
	// Cause is why the server failed (a 5xx): logged, never sent, since it
	// may name server paths and temp files.
	Cause error
}

// Error formats the error as "status code: detail".
func (e *Error) Error() string { return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Detail) }

// Is matches another *Error with the same Code (and the same Status, when
// the target sets one), so errors.Is(err, &Error{Code: CodeConflict}) works.
func (e *Error) Is(target error) bool {
	var t *Error
	return errors.As(target, &t) && t.Code == e.Code && (t.Status == 0 || t.Status == e.Status)
}

// Body returns the JSON error body: error, detail and the extra fields.
func (e *Error) Body() map[string]any {
	m := make(map[string]any, len(e.Extra)+2)
	for k, v := range e.Extra {
		m[k] = v
	}
	m["error"] = e.Code
	m["detail"] = e.Detail
	return m
}

// Errorf builds an *Error with a formatted detail.
func Errorf(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Detail: fmt.Sprintf(format, args...)}
}

// ErrorBody is the decoded shape of every error response.
type ErrorBody struct {
	Error          string `json:"error"`
	Detail         string `json:"detail"`
	Remediation    string `json:"remediation,omitempty"`
	StoredSHA256   string `json:"stored_sha256,omitempty"`
	ComputedSHA256 string `json:"computed_sha256,omitempty"`
	YourCommit     string `json:"your_commit,omitempty"`
	HeadCommit     string `json:"head_commit,omitempty"`
	Window         int    `json:"window,omitempty"`
}

// EpisodeReply is the body of a 200 duplicate or 201 stored episode PUT.
type EpisodeReply struct {
	Status string `json:"status"` // "stored" or "duplicate"
	ID     string `json:"id"`
	SHA256 string `json:"sha256"`
	Bytes  int64  `json:"bytes"`
}

// PingReply is the body of a 200 ping.
type PingReply struct {
	Status  string `json:"status"`
	Host    string `json:"host"`
	Version string `json:"version"`
	Gate    string `json:"gate,omitempty"`
}
