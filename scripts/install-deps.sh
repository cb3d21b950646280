#!/usr/bin/env bash
# Install the Debian packages Starling builds and tests with, when missing (idempotent).
#
#   scripts/install-deps.sh            # as root, or with sudo available
#
# Runs `apt-get update` at most once, and only when something is missing. Never starts the
# distribution's bird/frr/gobgpd/etcd services: a temporary policy-rc.d forbids service starts during the
# install (tests run their own instances in network namespaces), and if a service was started anyway
# by a package installed here it is stopped and disabled.
set -euo pipefail

PACKAGES=(bird2 frr gobgpd libnl-3-dev libnl-route-3-dev libmnl-dev libbpf-dev libssl-dev libsqlite3-dev
          iproute2 curl openssl python3 procps
          mmdebstrap qemu-system-x86 qemu-utils syslinux syslinux-common mtools dosfstools e2fsprogs
          fdisk zstd socat chromium chromium-driver python3-selenium fonts-liberation etcd-server)
SERVICES=(bird frr gobgpd etcd)

# The Avi Python SDK (pinned), for Tests/avisdk; installed with pip once python3 is there.
AVISDK_VERSION=32.1.4
ensure_avisdk() {
  python3 -c "from avi.sdk.avi_api import ApiSession" 2>/dev/null && return 0
  python3 -m pip install -q "avisdk==$AVISDK_VERSION" && python3 -c "from avi.sdk.avi_api import ApiSession" \
    || { echo "install-deps: avisdk $AVISDK_VERSION is not importable" >&2; exit 1; }
}

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

missing=()
for p in "${PACKAGES[@]}"; do installed "$p" || missing+=("$p"); done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all packages present"
  ensure_avisdk
  exit 0
fi
echo "install-deps: installing ${missing[*]}"

SUDO=()
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null || { echo "install-deps: need root (or sudo) to install ${missing[*]}" >&2; exit 1; }
  SUDO=(sudo)
fi

# Forbid service starts from maintainer scripts while we install (invoke-rc.d / deb-systemd-invoke obey
# policy-rc.d exit code 101). Leave an existing policy-rc.d alone.
POLICY=/usr/sbin/policy-rc.d
OWN_POLICY=0
if [ ! -e "$POLICY" ]; then
  printf '#!/bin/sh\nexit 101\n' | "${SUDO[@]}" tee "$POLICY" >/dev/null
  "${SUDO[@]}" chmod 755 "$POLICY"
  OWN_POLICY=1
fi
cleanup() { if [ "$OWN_POLICY" = 1 ]; then "${SUDO[@]}" rm -f "$POLICY"; fi; }
trap cleanup EXIT

export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
  -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "${missing[@]}"

# Belt and braces: stop and disable the services of packages installed just now if they run anyway.
for s in "${SERVICES[@]}"; do
  pkg=$s; [ "$s" = bird ] && pkg=bird2; [ "$s" = etcd ] && pkg=etcd-server
  case " ${missing[*]} " in *" $pkg "*) ;; *) continue ;; esac
  if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
    "${SUDO[@]}" systemctl disable --now "$s.service" >/dev/null 2>&1 || true
  elif [ -x "/etc/init.d/$s" ]; then
    "${SUDO[@]}" "/etc/init.d/$s" stop >/dev/null 2>&1 || true
    command -v update-rc.d >/dev/null && "${SUDO[@]}" update-rc.d "$s" disable >/dev/null 2>&1 || true
  fi
done

still=()
for p in "${PACKAGES[@]}"; do installed "$p" || still+=("$p"); done
if [ ${#still[@]} -ne 0 ]; then
  echo "install-deps: still missing: ${still[*]}" >&2
  exit 1
fi
ensure_avisdk
echo "install-deps: done"
