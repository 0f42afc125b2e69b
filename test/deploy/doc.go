// Package deploy holds end-to-end tests of a deployment: the real binaries
// behind the real TLS front end of etc/Caddyfile.example. The shell checks
// beside it (checks.sh, run by ./build.sh test) cover units, installers and
// release builds.
package deploy
