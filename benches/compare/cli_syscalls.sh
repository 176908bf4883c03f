#!/usr/bin/env bash
# Syscalls and context switches per GiB of the esdk CLI on one file, run on demand (not by CI):
# the companion of cli.sh, which gives CPU seconds and RSS against the official CLI.
#
#   benches/compare/cli_syscalls.sh [--mib 256]
#
#   ESDK=path/to/esdk   the esdk binary (default: `cargo build --release --bin esdk` into
#                       $CARGO_TARGET_DIR, default target/)
#
# A raw AES key (no KMS: one call per file would not change the per-GiB figures). For unsigned
# 0x0478 in 64 KiB frames and the signed default (0x0578, 4 KiB frames), encrypt then decrypt:
# `strace -f -c` counts every system call of every thread, `perf stat -e context-switches`
# counts context switches (each in a separate run, since strace itself adds switches). Needs
# strace and perf.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
mib=256
while [ $# -gt 0 ]; do
  case "$1" in
    --mib) mib=$2; shift 2 ;;
    *) echo "usage: $0 [--mib N]" >&2; exit 2 ;;
  esac
done
if [ -z "${ESDK:-}" ]; then
  (cd "$root" && nice cargo build --release --quiet --bin esdk)
  ESDK=${CARGO_TARGET_DIR:-$root/target}/release/esdk
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
head -c "$((mib * 1024 * 1024))" /dev/urandom > "$work/big"
"$ESDK" keygen --output "$work/k.key" 2>/dev/null
key=(-w "key=aes:$work/k.key")

# run OP ARGS...: prints "syscalls context_switches" for one run of esdk OP.
run() {
  rm -f "$work/out"
  strace -f -c -o "$work/strace" "$ESDK" "$@" -o "$work/out" >/dev/null
  local calls
  calls=$(awk '$NF == "total" { print $(NF-2) }' "$work/strace")
  rm -f "$work/out"
  perf stat -x, -e context-switches -o "$work/perf" "$ESDK" "$@" -o "$work/out" >/dev/null
  local cs
  cs=$(awk -F, '/context-switches/ { print $1 }' "$work/perf")
  echo "$calls $cs"
}

echo "| $mib MiB file, raw AES key | op | syscalls / GiB | context switches / GiB |"
echo "|---|---|---|---|"
for spec in "0x0478 65536" "0x0578 4096"; do
  read -r suite frame <<<"$spec"
  read -r c s < <(run encrypt "${key[@]}" --algorithm "$suite" --frame-length "$frame" -i "$work/big")
  cp "$work/out" "$work/ct"
  echo "| $suite, $frame-byte frames | encrypt | $((c * 1024 / mib)) | $((s * 1024 / mib)) |"
  read -r c s < <(run decrypt "${key[@]}" -i "$work/ct")
  cmp "$work/big" "$work/out"
  echo "| $suite, $frame-byte frames | decrypt | $((c * 1024 / mib)) | $((s * 1024 / mib)) |"
done
