#!/usr/bin/env bash
# The main job: builds libmeter and shows it working.
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"
cd "$METER_ROOT"

install_deps
log "building"
build build/demo -DCMAKE_BUILD_TYPE=RelWithDebInfo
log "running examples/records"
./build/demo/examples/records
