# Shared by the scripts: dependency installation and the standard build.
# Sourced, not executed.

METER_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
JOBS=$(nproc 2>/dev/null || echo 2)

# Debian packages the build, the tests and the sandbox need.
METER_PACKAGES=(
  build-essential clang cmake ninja-build pkg-config git
  libcurl4-openssl-dev libcjson-dev libssl-dev libcmocka-dev libsqlite3-dev
  libmicrohttpd-dev libpq-dev postgresql python3 python3-botocore valgrind wrk
)

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

install_deps() {
  local missing=()
  for p in "${METER_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  # python3-botocore is only needed when the image's python3 lacks botocore.
  if python3 -c 'import botocore' 2>/dev/null; then
    missing=("${missing[@]/python3-botocore}")
  fi
  local want=()
  for p in "${missing[@]}"; do [ -n "$p" ] && want+=("$p"); done
  if [ ${#want[@]} -eq 0 ]; then
    return 0
  fi
  log "installing: ${want[*]}"
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${want[@]}" >/dev/null
}

# build DIR [cmake args...]: configure (once) and build.
build() {
  local dir=$1
  shift
  cmake -S "$METER_ROOT" -B "$dir" -G Ninja "$@" >/dev/null
  cmake --build "$dir" -j "$JOBS"
}
