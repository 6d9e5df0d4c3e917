#!/usr/bin/env bash
# One-time (and idempotent) preparation of a Debian 12 edge node or CI machine:
# packages, hugepages, and a build. Safe to run any number of times.
#
#   scripts/setup.sh [BUILD_DIR] [extra meson options...]
#
# BUILD_DIR defaults to build/. Environment: SLUICE_HUGEPAGES (2 MiB pages, default 512),
# SLUICE_SKIP_APT=1 to skip package installation (air-gapped nodes with packages preinstalled).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${1:-build}
shift || true

packages=(
	# build
	build-essential meson ninja-build pkg-config clang-format
	# DPDK 22.11 and the libraries Sluice links
	libdpdk-dev dpdk dpdk-dev libconfig-dev libipsec-mb-dev libyaml-dev libjansson-dev
	libcurl4-openssl-dev libssl-dev libpcap-dev libbsd-dev
	# tests: Criterion, fuzzing (clang/libFuzzer + sanitizer runtime), real peers and tools
	libcriterion-dev clang libclang-rt-14-dev iproute2 ethtool iputils-ping curl
	nginx-light wrk python3 python3-yaml openssl util-linux procps psmisc testssl.sh
	# perf/: the kernel peers, the results chart, the Pktgen scripts' syntax check
	haproxy gnuplot-nox lua5.4
)

need_install=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
		need_install+=("$p")
done
if [ "${#need_install[@]}" -gt 0 ] && [ "${SLUICE_SKIP_APT:-0}" != 1 ]; then
	echo "setup: installing ${need_install[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${need_install[@]}" >/dev/null
fi

# The stock nginx and haproxy services are not ours; tests and perf/ start their own
# instances in namespaces.
for svc in nginx haproxy; do
	if systemctl is-active --quiet "$svc" 2>/dev/null; then
		systemctl disable --now "$svc" >/dev/null 2>&1 || true
	fi
done

# Hugepages: 2 MiB pages, reserved and mounted where DPDK looks for them.
pages=${SLUICE_HUGEPAGES:-512}
have=$(cat /proc/sys/vm/nr_hugepages)
if [ "$have" -lt "$pages" ]; then
	echo "$pages" > /proc/sys/vm/nr_hugepages || true
	have=$(cat /proc/sys/vm/nr_hugepages)
	[ "$have" -ge "$pages" ] || echo "setup: warning: only $have of $pages hugepages could be reserved" >&2
fi
if ! mount | grep -q ' /dev/hugepages type hugetlbfs'; then
	mkdir -p /dev/hugepages
	mount -t hugetlbfs -o pagesize=2M nodev /dev/hugepages
fi

# Build.
cd "$here"
if [ ! -f "$build/build.ninja" ]; then
	meson setup "$build" "$@" >/dev/null
fi
ninja -C "$build" >/dev/null
echo "setup: built into $here/$build"
