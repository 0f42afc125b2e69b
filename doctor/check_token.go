package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
)

// tokenCheck: the bearer token file is present, readable, not empty, and
// readable by its owner alone (SPEC §9, §13).
type tokenCheck struct{ h *host }

func (tokenCheck) Name() string { return "token" }

func (c tokenCheck) Run(context.Context) Result {
	h := c.h
	if !h.configured() {
		return skipNoConfig
	}
	rc := h.cfg.Receiver
	switch {
	case rc.Token != "":
		// The secret sits in the config file itself, so that file is
		// what must stay private.
		return modeCheck("config "+h.cfgPath+" (holds the inline token)", h.cfgPath, "inline token set in "+h.cfgPath)
	case rc.TokenFile == "":
		return result(Skip, "", "no token configured (the receiver must run with auth off)")
	}
	b, err := os.ReadFile(rc.TokenFile)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return result(Fail, "", "token_file %s is missing", rc.TokenFile)
	case errors.Is(err, fs.ErrPermission):
		return result(Fail, fmt.Sprintf("sudo chown cis490: %s && sudo chmod 600 %s", rc.TokenFile, rc.TokenFile),
			"token_file %s is not readable by %s", rc.TokenFile, h.who())
	case err != nil:
		return result(Fail, "", "token_file %s: %v", rc.TokenFile, err)
	case strings.TrimSpace(string(b)) == "":
		return result(Fail, "", "token_file %s is empty", rc.TokenFile)
	}
	return modeCheck("token_file "+rc.TokenFile, rc.TokenFile, "token_file "+rc.TokenFile+" readable")
}

// modeCheck warns when path is readable by group or other; okSummary
// describes the healthy case.
func modeCheck(what, path, okSummary string) Result {
	if path == "" {
		return result(OK, "", "%s", okSummary)
	}
	st, err := os.Stat(path)
	if err != nil {
		return result(Fail, "", "%s: %v", what, err)
	}
	if perm := st.Mode().Perm(); perm&0o044 != 0 {
		return result(Warn, "sudo chmod 600 "+path, "%s is readable by group or other (mode %04o)", what, perm)
	}
	return result(OK, "", "%s, mode %04o", okSummary, st.Mode().Perm())
}
