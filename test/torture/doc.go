// Package torture proves the transport loses nothing under faults, crashes
// and load. Its tests run the real binaries on loopback: one receiver behind
// a fault-injecting TCP proxy, many shippers with their own data
// directories, kill -9 of both at random moments, a full disk and a dead
// version-gate upstream, then check every episode's fate on disk. See
// docs/RELIABILITY.md for the commands and the figures of the last runs.
package torture
