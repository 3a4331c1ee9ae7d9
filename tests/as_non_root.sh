#!/usr/bin/env bash
# Runs a command as a non-root user: as root (CI machines, containers) through setpriv as
# "nobody", otherwise as is. For the tests that need file permissions to mean something
# (root reads any file): meson runs graft_tests' "unreadable" case this way.
set -euo pipefail
if [ "$(id -u)" = 0 ]; then
  exec setpriv --reuid=65534 --regid=65534 --clear-groups "$@"
fi
exec "$@"
