#!/usr/bin/env bash
# Local AWS KMS servers (moto) for the KMS keyring tests and vectors.
#
#   source .ci/kms.sh start     # start both servers, export their endpoints (see below)
#   kms_stop                    # stop them (by PID); `start` also sets an EXIT trap doing this
#   .ci/kms.sh run -- CMD...    # start, run CMD with the endpoints exported, stop; CMD's status
#
# Servers, bound to 127.0.0.1 on free ports:
#   ESDK_KMS_ENDPOINT          stock moto (`moto_server`): symmetric keys, aliases, Regions,
#                              discovery; what stock moto gets right is tested against it.
#   ESDK_KMS_MRK_ENDPOINT      ../shared/kms/moto_kms_esdk.py (moto with the MRK, disabled-key and
#                              cross-Region fixes) started with --state on a COPY of
#                              ../shared/kms/vectors/kms_state.json, so the KMS vectors decrypt.
#   ESDK_VECTORS_KMS_ENDPOINT  = ESDK_KMS_MRK_ENDPOINT (read by `esdk-vectors decrypt`).
#   ESDK_KMS_VECTORS_DIR       ../shared/kms/vectors (read by tests/kms.rs).
# Sourced, `start` sets `trap kms_stop EXIT`: a caller that later sets its own EXIT trap must call
# kms_stop from it. Prefer `run`, which stops the servers itself (also on INT/TERM).
# The fixed launcher is found at ../shared/kms relative to the repository root (or $ESDK_SHARED_KMS);
# when it is missing only the stock server runs and ESDK_KMS_MRK_ENDPOINT stays unset (tests say so).
# moto is installed with pip (`moto[server]`) when `moto_server` is not on PATH.

_kms_repo_root() { cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd; }

_kms_free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

_kms_wait() { # url pid name
    local i
    for i in $(seq 1 150); do
        if ! kill -0 "$2" 2>/dev/null; then
            echo "kms.sh: $3 exited during startup; its log:" >&2
            cat "$_KMS_DIR/$3.log" >&2
            return 1
        fi
        if python3 - "$1" <<'PY' 2>/dev/null; then return 0; fi
import sys, urllib.request
urllib.request.urlopen(sys.argv[1] + "/moto-api/", timeout=1)
PY
        sleep 0.2
    done
    echo "kms.sh: $3 did not answer at $1 within 30 s" >&2
    return 1
}

kms_stop() {
    local pid
    for pid in ${_KMS_PIDS:-}; do
        if kill -0 "$pid" 2>/dev/null; then
            kill "$pid" 2>/dev/null
            for _ in $(seq 1 25); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
            kill -9 "$pid" 2>/dev/null || true
        fi
    done
    _KMS_PIDS=""
    if [ -n "${_KMS_DIR:-}" ] && [ -d "$_KMS_DIR" ]; then rm -rf "$_KMS_DIR"; fi
    _KMS_DIR=""
    unset ESDK_KMS_ENDPOINT ESDK_KMS_MRK_ENDPOINT ESDK_VECTORS_KMS_ENDPOINT
}

kms_start() {
    local root shared py port
    root="$(_kms_repo_root)"
    shared="${ESDK_SHARED_KMS:-$root/../shared/kms}"
    if ! command -v moto_server >/dev/null 2>&1; then
        echo "kms.sh: installing moto[server]" >&2
        python3 -m pip install --quiet 'moto[server]' >&2 || return 1
        hash -r
    fi
    py="$(command -v python3)"
    _KMS_DIR="$(mktemp -d "${TMPDIR:-/tmp}/esdk-kms.XXXXXX")"
    _KMS_PIDS=""
    trap kms_stop EXIT

    port="$(_kms_free_port)"
    moto_server -H 127.0.0.1 -p "$port" >"$_KMS_DIR/moto.log" 2>&1 &
    _KMS_PIDS="$_KMS_PIDS $!"
    _kms_wait "http://127.0.0.1:$port" "$!" moto || { kms_stop; return 1; }
    export ESDK_KMS_ENDPOINT="http://127.0.0.1:$port"
    echo "kms.sh: stock moto at $ESDK_KMS_ENDPOINT (pid $!)" >&2

    if [ -f "$shared/moto_kms_esdk.py" ]; then
        cp "$shared/vectors/kms_state.json" "$_KMS_DIR/kms_state.json"
        port="$(_kms_free_port)"
        "$py" "$shared/moto_kms_esdk.py" -H 127.0.0.1 -p "$port" --state "$_KMS_DIR/kms_state.json" \
            >"$_KMS_DIR/moto-fixed.log" 2>&1 &
        _KMS_PIDS="$_KMS_PIDS $!"
        _kms_wait "http://127.0.0.1:$port" "$!" moto-fixed || { kms_stop; return 1; }
        export ESDK_KMS_MRK_ENDPOINT="http://127.0.0.1:$port"
        export ESDK_VECTORS_KMS_ENDPOINT="$ESDK_KMS_MRK_ENDPOINT"
        export ESDK_KMS_VECTORS_DIR="$shared/vectors"
        echo "kms.sh: fixed launcher at $ESDK_KMS_MRK_ENDPOINT (pid $!), state copied from $shared/vectors" >&2
    else
        echo "kms.sh: $shared/moto_kms_esdk.py NOT FOUND: MRK tests and KMS vectors will not run" >&2
    fi
}

# Executed (not sourced): start|run.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    case "${1:-}" in
        run)
            shift
            trap 'kms_stop; exit 130' INT
            trap 'kms_stop; exit 143' TERM
            [ "${1:-}" = "--" ] && shift
            [ $# -gt 0 ] || { echo "usage: $0 run -- CMD..." >&2; exit 2; }
            kms_start || exit 1
            set +e
            "$@"
            status=$?
            kms_stop
            trap - EXIT
            exit $status
            ;;
        *)
            echo "usage: source $0 start | $0 run -- CMD..." >&2
            exit 2
            ;;
    esac
elif [ "${1:-}" = "start" ]; then
    kms_start
fi
