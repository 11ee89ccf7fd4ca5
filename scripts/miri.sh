#!/usr/bin/env bash
# Miri over the runtime's unit tests that exercise its unsafe code: the per-thread rings
# (`pipeline::ring`), the buffer of light records and its spare trace references
# (`pipeline::local`), the worker's recycled observation boxes and their kept trace references
# (`pipeline::recycle`), the context's frames, guard and borrowed-trace frames (`context`), the
# span's pooled frame boxes (`span`) and the `tracing` bridge (`bridge`). Miri checks every
# pointer use against Rust's aliasing model, which ordinary tests cannot see.
#
# Needs a nightly toolchain with the miri component. Without one this says so loudly and
# exits 0; with MIRI_INSTALL=1 it first tries to install it (CI does).
set -euo pipefail
cd "$(dirname "$0")/.."

have_miri() { cargo +nightly miri --version >/dev/null 2>&1; }

if ! have_miri && [ "${MIRI_INSTALL:-0}" = 1 ]; then
    echo "Miri: installing the nightly toolchain with miri"
    rustup toolchain install nightly --profile minimal --component miri || true
fi
if ! have_miri; then
    echo "!!! Miri: SKIPPED — nightly with miri not installed; install with rustup toolchain install nightly --component miri"
    exit 0
fi

cargo +nightly miri --version
# Isolation off: the clock's anchor reads the wall time once (the cycle counter is mocked
# under Miri, which cannot run `cpuid`).
export MIRIFLAGS="${MIRIFLAGS:--Zmiri-disable-isolation}"
cargo +nightly miri test -p observe-runtime --lib -- pipeline::ring pipeline::local pipeline::recycle context:: span::
# The `tracing` bridge's frames (claimed, carried, moved, out of order, stranded) and its
# span table.
cargo +nightly miri test -p observe-runtime --features tracing-bridge --lib -- bridge::
echo "Miri: passed"
