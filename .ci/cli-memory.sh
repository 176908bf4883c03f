#!/usr/bin/env bash
# Peak memory (VmHWM via GNU time) of the `esdk` CLI for a 1 GiB file: encrypt, streaming
# decrypt, and fully verified decrypt (`--buffer`: 64 MiB in memory, the rest spilled to an
# encrypted temporary file). Fails when streaming exceeds 32 MiB or --buffer 128 MiB.
# Usage: bash .ci/cli-memory.sh [SIZE_MIB]   (default 1024; needs /usr/bin/time and ~3 GiB of /tmp)
set -euo pipefail
size_mib="${1:-1024}"
cargo build --release --bin esdk >&2
exe="$PWD/target/release/esdk"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
"$exe" keygen --output k.key 2>/dev/null
head -c "$((size_mib * 1024 * 1024))" /dev/urandom > p.bin
measure() { # LIMIT_KIB LABEL ARGS...
    local limit="$1" label="$2"; shift 2
    local kib
    kib="$(/usr/bin/time -f '%M' "$exe" "$@" 2>&1 >/dev/null | tail -1)"
    echo "$label: peak RSS $((kib / 1024)) MiB for $size_mib MiB"
    [ "$kib" -le "$limit" ] || { echo "cli-memory: $label above $((limit / 1024)) MiB" >&2; exit 1; }
}
measure $((32 * 1024)) "encrypt" encrypt -q -w key=aes:k.key -i p.bin -o c.bin
measure $((32 * 1024)) "decrypt (streaming)" decrypt -q -w key=aes:k.key -i c.bin -o d1.bin
measure $((128 * 1024)) "decrypt --buffer" decrypt -q -w key=aes:k.key -i c.bin -o d2.bin --buffer
cmp p.bin d1.bin && cmp p.bin d2.bin && echo "cli-memory: round trips identical"
