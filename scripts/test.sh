#!/usr/bin/env bash
# Runs every test: installs missing dependencies, builds with gcc and
# -Werror, runs ctest, then the valgrind stage (memcheck over the examples
# and the meter command against meter-sandbox) on that build; then builds
# with clang, AddressSanitizer and UndefinedBehaviorSanitizer and runs ctest
# again (the fuzz corpora and the allocation-failure tests included); then a
# ThreadSanitizer build runs the unit and multi-threaded tests.
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"
cd "$METER_ROOT"

install_deps

log "release build (gcc, -Wall -Wextra -Werror)"
build build/test-release -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=gcc \
  -DCMAKE_CXX_COMPILER=g++ -DMETER_WERROR=ON
log "tests (release)"
(cd build/test-release && ctest -j "$JOBS" --output-on-failure --timeout 600 -LE valgrind)

log "valgrind memcheck: examples and meter commands (0 leaks, 0 errors)"
(cd build/test-release && ctest --output-on-failure --timeout 1200 -L valgrind)

log "sanitizer build (clang, ASan + UBSan, -Werror)"
build build/test-asan -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_COMPILER=clang \
  -DCMAKE_CXX_COMPILER=clang++ -DMETER_WERROR=ON -DMETER_SANITIZE=address,undefined
log "tests (ASan + UBSan)"
(cd build/test-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest -j "$JOBS" --output-on-failure --timeout 900)

log "thread sanitizer build (clang, TSan): the multi-threaded tests"
build build/test-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=clang \
  -DCMAKE_CXX_COMPILER=clang++ -DMETER_WERROR=ON -DMETER_SANITIZE=thread
(cd build/test-tsan && TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
  ctest -j "$JOBS" --output-on-failure --timeout 900 -L 'unit|threads')

log "all tests passed"
