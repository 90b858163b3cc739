#!/usr/bin/env bash
# Runs another tests/preload script under an address-space limit
# (`ulimit -v KIB`, RLIMIT_AS), as HPC and CI machines set it: the library
# must size its reservation to the limit and the program must work as
# without the library.
# Usage: ulimit_v.sh LIBRARY|none KIB SCRIPT [ARGS...]
lib=$1
kib=$2
script=$3
shift 3
ulimit -v "$kib" || { echo "FAIL: ulimit -v $kib" >&2; exit 1; }
exec bash "$(dirname "$0")/$script" "$lib" "$@"
