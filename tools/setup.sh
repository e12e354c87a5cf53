#!/usr/bin/env bash
# The set-up behind `make serve` and `make test`:
#
#   tools/setup.sh prerequisites serve|test   check what the system must provide
#   tools/setup.sh install serve|test         check it, then create .venv and install the project
#
# What the system must provide: Python >= 3.10 with its venv module (Debian: python3-venv),
# and for `test` Debian's chromium at /usr/bin/chromium (or $VILVIK_TEST_CHROMIUM), which the
# dashboard's browser tests drive through Playwright (never `playwright install`: nothing is
# downloaded at run time). A missing package is installed with apt-get when this runs as
# root without a terminal to ask (CI: .ci/run); otherwise the exact command is printed and
# nothing else is done. VILVIK_SETUP_INSTALL=never turns the installing off.
#
# Everything that writes (apt-get, the virtualenv, pip) runs under one lock, flock(1) on the
# repository's directory (util-linux: on every Debian system), and re-checks once it holds
# it: `make serve` in one terminal and `make test` in another wait for each other instead of
# racing to create .venv.
set -euo pipefail
SELF=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")
cd "$(dirname "$SELF")/.."

PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}
SDK=${SDK:-vilvik==0.5.7}
CHROMIUM=${VILVIK_TEST_CHROMIUM:-/usr/bin/chromium}
INSTALL=${VILVIK_SETUP_INSTALL:-auto}

action=${1:-}
target=${2:-}
if [[ ! $action =~ ^(prerequisites|install|_apt|_venv|_sdk_sources)$ ]] || [[ ! $target =~ ^(serve|test)$ ]]; then
  echo "usage: tools/setup.sh prerequisites|install serve|test" >&2
  exit 2
fi

say() { printf 'make %s: %s\n' "$target" "$*" >&2; }

locked() {
  # Run "$@" holding the set-up lock (without flock, as on some non-Debian systems, unlocked).
  if command -v flock >/dev/null 2>&1; then
    flock . "$@"
  else
    "$@"
  fi
}

# ---------------------------------------------------------------------- system prerequisites

python_ok() {
  command -v "$PYTHON" >/dev/null 2>&1 &&
    "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 10))' >/dev/null 2>&1
}

venv_ok() {
  [[ -x $VENV/bin/python ]] || "$PYTHON" -c 'import ensurepip, venv' >/dev/null 2>&1
}

chromium_ok() {
  [[ $target != test ]] || [[ -x $CHROMIUM ]]
}

missing_packages() {
  local packages=()
  if ! command -v "$PYTHON" >/dev/null 2>&1; then
    packages+=(python3 python3-venv)
  elif python_ok && ! venv_ok; then
    packages+=(python3-venv)
  fi
  chromium_ok || packages+=(chromium)
  echo "${packages[@]}"
}

describe_missing() {
  if ! command -v "$PYTHON" >/dev/null 2>&1; then
    say "needs Python 3.10 or newer ($PYTHON is not installed)"
  elif ! python_ok; then
    say "needs Python 3.10 or newer; $PYTHON is $("$PYTHON" -c 'import platform; print(platform.python_version())')"
    say "install a newer Python and run: make $target PYTHON=/path/to/python3.X"
  elif ! venv_ok; then
    say "needs Python's venv module to create $VENV (Debian ships it as python3-venv)"
  fi
  if ! chromium_ok; then
    say "needs Chromium at $CHROMIUM: the dashboard's browser tests drive Debian's chromium through Playwright"
    if [[ -n ${VILVIK_TEST_CHROMIUM:-} ]]; then
      say "(VILVIK_TEST_CHROMIUM names it; unset it to use Debian's /usr/bin/chromium)"
    fi
  fi
}

can_install() {
  [[ $INSTALL != never ]] && [[ $(id -u) == 0 ]] && [[ ! -t 0 ]] && command -v apt-get >/dev/null 2>&1
}

apt_install() {
  # Under the lock, and only what is still missing once it is held.
  local packages
  packages=$(missing_packages)
  [[ -n $packages ]] || return 0
  say "installing $packages (apt-get, as root without a terminal)"
  export DEBIAN_FRONTEND=noninteractive
  # shellcheck disable=SC2086  # one word per package
  apt-get update -q && apt-get install -y -q --no-install-recommends $packages
}

prerequisites() {
  local packages
  packages=$(missing_packages)
  if [[ -n $packages ]] && can_install; then
    locked "$SELF" _apt "$target"
    packages=$(missing_packages)
  fi
  if ! python_ok || [[ -n $packages ]]; then
    describe_missing
    if [[ -n $packages ]]; then
      local sudo=""
      [[ $(id -u) == 0 ]] || sudo="sudo "
      say "install what is missing with:"
      printf '\n    %sapt-get install %s\n\n' "$sudo" "$packages" >&2
      say "then run make $target again"
    fi
    exit 1
  fi
}

# ---------------------------------------------------------------------- the virtualenv

install_venv() {
  # Under the lock. The stamp records what was installed, so a change of the extras or
  # of pyproject.toml (newer than the stamp) installs again, and nothing else does.
  local spec stamp
  if [[ $target == test ]]; then
    spec="-e .[test]"
    stamp=$VENV/.installed-test
  else
    spec="-e . $SDK"
    stamp=$VENV/.installed
  fi
  if ! "$VENV/bin/python" -c '' >/dev/null 2>&1; then
    rm -rf "$VENV"
    echo "$PYTHON -m venv $VENV"
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --upgrade pip
  fi
  if [[ -f $stamp && $stamp -nt pyproject.toml && $(cat "$stamp") == "$spec" ]]; then
    return 0
  fi
  echo "$VENV/bin/python -m pip install --quiet $spec"
  # shellcheck disable=SC2086  # the spec is several arguments
  "$VENV/bin/python" -m pip install --quiet $spec
  echo "$spec" >"$stamp"
  if [[ $target == test ]]; then
    # The test extra includes everything `serve` needs.
    echo "-e . $SDK" >"$VENV/.installed"
  fi
}

# The SDK's own tests are a second witness of the hosted service's shapes
# (tests/test_sdk_witness.py): its source distribution, from PyPI like every package,
# unpacked once into the virtualenv at install time (nothing is downloaded by a test).
sdk_sources() {
  local directory=$VENV/sdk-source download
  if compgen -G "$directory/vilvik-*/tests" >/dev/null; then
    return 0
  fi
  download=$(mktemp -d)
  echo "$VENV/bin/python -m pip download --quiet --no-deps --no-binary :all: $SDK -d $directory"
  "$VENV/bin/python" -m pip download --quiet --no-deps --no-binary :all: "$SDK" -d "$download"
  mkdir -p "$directory"
  tar -xzf "$download"/vilvik-*.tar.gz -C "$directory"
  rm -rf "$download"
}

case $action in
  _apt) apt_install ;;
  _venv) install_venv ;;
  prerequisites) prerequisites ;;
  _sdk_sources) sdk_sources ;;
  install)
    prerequisites
    locked "$SELF" _venv "$target"
    if [[ $target == test ]]; then
      locked "$SELF" _sdk_sources "$target"
    fi
    ;;
esac
