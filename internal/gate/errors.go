package gate

import (
	"fmt"
	"net/http"

	"cis490/internal/wire"
)

// RetryAfterS is the Retry-After, in seconds, of a 503 gate-unavailable
// answer (SPEC §4.2 row 11).
const RetryAfterS = 30

// Refusal returns the receiver's answer for verdict v (SPEC §4.2 rows 9–11),
// or nil when v admits the upload. header is the commit header as sent; s is
// the snapshot the verdict was made against, consulted for the 412's head and
// window; remediation is the configured text, returned verbatim with 400 and
// 412.
func Refusal(v Verdict, header string, s *Snapshot, remediation string) *wire.Error {
	switch v {
	case MissingCommit:
		return &wire.Error{
			Status: http.StatusBadRequest,
			Code:   wire.CodeMissingCommit,
			Detail: "the upload has no " + wire.HeaderCommit + " header; episodes must be stamped with the commit of the code that made them",
			Extra:  map[string]any{"remediation": remediation},
		}
	case MalformedCommit:
		return &wire.Error{
			Status: http.StatusBadRequest,
			Code:   wire.CodeMalformedCommit,
			Detail: wire.HeaderCommit + " must be exactly 40 hex digits",
			Extra:  map[string]any{"remediation": remediation},
		}
	case NotInWindow:
		var head string
		var window int
		if s != nil {
			head, window = s.Head, s.Window
		}
		yours := header
		if c, ok := ParseCommit(header); ok {
			yours = c.String()
		}
		return &wire.Error{
			Status: http.StatusPreconditionFailed,
			Code:   wire.CodeCommitNotInWindow,
			Detail: fmt.Sprintf("commit %s is not among the newest %d commits of the branch; update the lab host", yours, window),
			Extra: map[string]any{
				"your_commit": yours,
				"head_commit": head,
				"window":      window,
				"remediation": remediation,
			},
		}
	case Unavailable:
		return &wire.Error{
			Status:     http.StatusServiceUnavailable,
			Code:       wire.CodeGateUnavailable,
			Detail:     "the version gate has not loaded its list of valid commits yet; retry later",
			RetryAfter: RetryAfterS,
		}
	}
	return nil
}
