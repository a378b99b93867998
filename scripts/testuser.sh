#!/usr/bin/env bash
# Creates the normal user the rootless tests run as, initkit-test, with
# subordinate uid and gid ranges (what Debian's adduser gives a user, and
# what mmdebstrap's unshare mode needs): a user created here, not one of
# the machine's own. Runs as root, or through sudo; says what to run
# otherwise.
set -euo pipefail
user=initkit-test
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if id "$user" >/dev/null 2>&1 && grep -q "^$user:" /etc/subuid && grep -q "^$user:" /etc/subgid; then exit 0; fi
  command -v sudo >/dev/null || { echo "testuser: run as root: $0" >&2; exit 1; }
  sudo=sudo
fi
if ! id "$user" >/dev/null 2>&1; then
  echo "testuser: creating the user $user for the rootless tests" >&2
  $sudo useradd --user-group --create-home --shell /bin/sh "$user"
fi
# A range no other user of this machine has: past the highest in use.
for f in subuid subgid; do
  grep -q "^$user:" /etc/$f 2>/dev/null && continue
  start=$(awk -F: 'BEGIN { m = 100000 } { e = $2 + $3; if (e > m) m = e } END { print m }' /etc/$f 2>/dev/null || echo 100000)
  echo "$user:$start:65536" | $sudo tee -a /etc/$f >/dev/null
done
