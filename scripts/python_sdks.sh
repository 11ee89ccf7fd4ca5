#!/usr/bin/env bash
# Creates (or reuses) one Python virtual environment per SDK client that the `observe serve`
# acceptance tests drive, under the build tree, and prints the interpreter's path.
#
#   scripts/python_sdks.sh CLIENT      # CLIENT: langfuse-current | langfuse-v2 | otel | all
#
# One venv per client because both Langfuse majors are the package `langfuse`. A venv's
# folder name carries its pinned requirements, so changing a pin makes a new venv instead of
# upgrading an old one in place; a venv is used only once its marker file says pip finished.
# Nothing is installed outside "$CARGO_TARGET_DIR/py" (or target/py when unset).
set -euo pipefail

# The pins: bump them here (and nowhere else).
LANGFUSE_CURRENT="langfuse==5.2.0"
LANGFUSE_V2="langfuse==2.60.10"
OTEL="opentelemetry-sdk==1.45.2 opentelemetry-exporter-otlp-proto-http==1.45.2"

requirements_of() {
    case "$1" in
        langfuse-current) echo "$LANGFUSE_CURRENT" ;;
        langfuse-v2) echo "$LANGFUSE_V2" ;;
        otel) echo "$OTEL" ;;
        *) echo "unknown client '$1' (langfuse-current, langfuse-v2, otel, all)" >&2; return 2 ;;
    esac
}

missing_python() {
    echo "python_sdks.sh: $1" >&2
    echo "Install Python 3 with venv and pip, e.g. 'apt-get install -y python3 python3-venv python3-pip'." >&2
    exit 3
}

ensure_venv() {
    local client="$1" reqs key dir
    reqs="$(requirements_of "$client")"
    key="$(echo "$reqs" | sed 's/==/-/g; s/ /+/g')"
    root="${CARGO_TARGET_DIR:-$(cd "$(dirname "$0")/.." && pwd)/target}/py"
    dir="$root/$client-$key"
    if [[ ! -f "$dir/.installed" ]]; then
        command -v python3 >/dev/null || missing_python "python3 not found on PATH."
        python3 -c 'import venv, ensurepip' 2>/dev/null \
            || missing_python "python3 has no venv/ensurepip module."
        mkdir -p "$root"
        # A half-made venv (pip interrupted) is started over, not trusted.
        rm -rf "$dir"
        python3 -m venv "$dir" >&2 || missing_python "python3 -m venv failed."
        # shellcheck disable=SC2086 # the requirements are words on purpose
        "$dir/bin/python" -m pip install --quiet --disable-pip-version-check $reqs >&2
        touch "$dir/.installed"
    fi
    echo "$dir/bin/python"
}

if [[ $# -ne 1 ]]; then
    echo "usage: $0 langfuse-current|langfuse-v2|otel|all" >&2
    exit 2
fi
if [[ "$1" == all ]]; then
    for client in langfuse-current langfuse-v2 otel; do ensure_venv "$client"; done
else
    ensure_venv "$1"
fi
