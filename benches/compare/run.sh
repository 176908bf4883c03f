#!/usr/bin/env bash
# Side-by-side speed comparison, run on demand (not by CI): esdk with both crypto backends, the
# published Rust aws-esdk 1.2.4 and the Python reference SDK 4.0.7, measured under the same
# workloads in one run, then one table with ratios.
#
#   benches/compare/run.sh [--mib 64] [--runs 3] [--suites 0478,0578,0178,0078]
#                          [--frames 4096,65536] [--small-secs 2]
#
# Workloads: one-shot encrypt and decrypt of a MIB-MiB message (raw AES-256 keyring / master
# key, no encryption context) per suite and frame length; 1 KiB round trips (encrypt + decrypt)
# per second for 0x0478 and 0x0578; the bare AES-256-GCM seal, SHA-384 and memcpy speeds of each
# esdk backend. All figures are per CPU-second of the process, so a busy machine matters less;
# compare ratios from one run, not absolute figures across runs.
#
# The first run builds aws-esdk (about 20 CPU-minutes, at low priority); set NO_AWS_ESDK=1 to
# leave it out. Python comes from ../shared/peers/setup.sh (a venv in /tmp).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
shared=${ESDK_SHARED:-$here/../../../shared}
target=$here/target
out=${OUT:-$(mktemp -d)}
mkdir -p "$out"
python_args=()
for ((i = 1; i <= $#; i++)); do
  case "${!i}" in
    --mib | --runs | --suites | --frames) j=$((i + 1)); python_args+=("${!i}" "${!j}") ;;
  esac
done

echo "building (release)..." >&2
(cd "$here" && nice cargo build --release --quiet)
if [ -z "${NO_AWS_ESDK:-}" ]; then
  (cd "$here/aws-esdk" && nice cargo build --release --quiet --target-dir "$target")
fi
PY=$(bash "$shared/peers/setup.sh")

echo "measuring esdk (both backends)..." >&2
"$target/release/esdk-compare" measure "$@" > "$out/esdk.jsonl"
if [ -z "${NO_AWS_ESDK:-}" ]; then
  echo "measuring aws-esdk 1.2.4..." >&2
  "$target/release/aws-esdk-bench" "$@" > "$out/aws-esdk.jsonl"
fi
echo "measuring the Python reference..." >&2
small_secs=2
for ((i = 1; i <= $#; i++)); do
  if [ "${!i}" = --small-secs ]; then j=$((i + 1)); small_secs=${!j}; fi
done
"$PY" "$shared/peers/bench_python.py" "${python_args[@]}" --json "$out/python.json" >&2
"$PY" "$here/python_small.py" --secs "$small_secs" > "$out/python-small.jsonl"

echo "(raw figures in $out)" >&2
files=("$out/esdk.jsonl" "$out/python.json" "$out/python-small.jsonl")
[ -f "$out/aws-esdk.jsonl" ] && files+=("$out/aws-esdk.jsonl")
"$target/release/esdk-compare" report "${files[@]}"
