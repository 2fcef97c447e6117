#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Unwinding cost per stack (issue 3 target: under 5 us for a 10-frame stack, warm), cold first
# unwind, and eu-stack on the same thread for scale. Needs root (ptrace). Prints, asserts nothing.
#   O=build tests/bench/bench_unwind.sh [iterations]
set -eu
cd "$(dirname "$0")/../.."
O="${O:-build}"
make -s O="$O" "$O/tests/bench/bench_unwind" "$O/tests/targets/unwind_chain"
exec "$O/tests/bench/bench_unwind" "$O/tests/targets/unwind_chain" "${1:-200000}"
