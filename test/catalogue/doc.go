// Package catalogue holds the scenario tests of the failure catalogue in
// docs/RELIABILITY.md that no single package can hold (the installers run
// into scratch roots), and the test that keeps the catalogue honest: every
// test a row cites must exist.
package catalogue
