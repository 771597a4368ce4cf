#!/usr/bin/env bash
# Bring this checkout to a runnable state on a fresh Debian machine, and do
# nothing when it is already there: Debian packages, the .venv, and the
# editable install. Called by `make test` and `make demo`.
set -euo pipefail
cd "$(dirname "$0")/.."

# libvirt-python builds against libvirt-dev via pkg-config. chromium drives the
# dashboard browser tests (never a downloaded browser). nginx fronts the media
# directory in the large-fleet test and benchmark. The real-QEMU tests start
# their own private libvirtd and virtlogd (libvirt-daemon, with its QEMU driver)
# and boot guests with qemu-system-x86, whose CD-ROM is read over HTTP by QEMU's
# curl block driver (qemu-block-extra); ovmf is the UEFI firmware the bootable
# bundle is also tested with. No system libvirt service is set up. slurm-wlm and
# munge: the Slurm cluster-manager tests and the hpc-slurm lab run real daemons
# on loopback. postgresql provides initdb/pg_ctl (in /usr/lib/postgresql/<major>/bin):
# the store tests start a throwaway server of their own; Debian's cluster service
# is never used.
APT_PACKAGES=(libvirt-dev pkg-config gcc nginx chromium
              libvirt-daemon libvirt-daemon-driver-qemu qemu-system-x86 qemu-block-extra ovmf
              slurm-wlm munge postgresql ${EXTRA_APT_PACKAGES:-})

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "bootstrap: installing Debian packages: ${missing[*]}"
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "bootstrap: creating .venv"
  "$PYTHON" -m venv .venv
  .venv/bin/pip install -q --upgrade pip
fi

# Reinstall only when the project's declared dependencies changed.
stamp=.venv/.fleetflash-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "bootstrap: pip install -e .[dev,lab]"
  .venv/bin/pip install -q -e '.[dev,lab]'
  touch "$stamp"
fi
