#!/bin/sh
# Installs what memgroup needs to build, test and benchmark, from Debian 12's
# packages only. Run as root (or through sudo).
set -eu
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
$SUDO apt-get install -y --no-install-recommends \
  build-essential cmake clang libclang-rt-14-dev pkg-config binutils \
  libjemalloc-dev libmimalloc-dev libabsl-dev libgtest-dev libgmock-dev \
  libbenchmark-dev libtcmalloc-minimal4 valgrind \
  python3 perl ruby git sqlite3 redis-server redis-tools procps time \
  nodejs openjdk-17-jre-headless \
  python3-matplotlib \
  dpkg-dev groff-base man-db \
  python3-prometheus-client tmux util-linux
