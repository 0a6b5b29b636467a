#!/usr/bin/env bash
# The system packages lmpapers needs beside its Python ones: Coq (the proof assistant Lean-RL's oracle runs against),
# bubblewrap (bwrap: the prover's read-only, PID- and network-isolated sandbox; without it the sandbox falls back to
# unshare and says so) and, with --tests, Chromium (the docs screenshot test). Installs what is missing with apt-get when it can (root, or
# sudo without a password); otherwise prints one line naming what to install and goes on: the paper that needs it is
# then recorded as not run, with that reason.
set -uo pipefail
need=(); [ "${1:-}" = "--tests" ] && want=(coq:coqtop bubblewrap:bwrap chromium:chromium) || want=(coq:coqtop bubblewrap:bwrap)
for pair in "${want[@]}"; do command -v "${pair#*:}" >/dev/null 2>&1 || need+=("${pair%%:*}"); done
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ]; then apt=(apt-get); elif sudo -n true 2>/dev/null; then apt=(sudo -n apt-get); else apt=(); fi
if [ ${#apt[@]} -eq 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "setup: missing system package(s) ${need[*]}: install them (Debian/Ubuntu: sudo apt-get install ${need[*]}); the papers that need them are recorded as not run"
  exit 0
fi
echo "setup: installing ${need[*]} (apt-get, about a minute)"
if ! "${apt[@]}" install -y -q "${need[@]}" >/dev/null 2>&1; then
  "${apt[@]}" update -q >/dev/null 2>&1; "${apt[@]}" install -y -q "${need[@]}" >/dev/null 2>&1 \
    || echo "setup: could not install ${need[*]} with apt-get; install them by hand; the papers that need them are recorded as not run"
fi
exit 0
