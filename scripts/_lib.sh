# shellcheck shell=bash disable=SC2034  # (arrays used by the scripts that source this)
# Helpers shared by scripts/*. Source this file; do not run it.
#
# Everything here is idempotent: a step that finds its work already done does
# nothing, so `bash scripts/launch` and `bash scripts/test` are cheap to repeat.

CC_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CC_VENV="$CC_ROOT/.venv"
CC_PY="$CC_VENV/bin/python"
# Bump when the way the venv is built changes, to force one reinstall.
CC_SETUP_VERSION=1

export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1

cc_log() { printf '[%s] %s\n' "$(date '+%H:%M:%S')" "$*" >&2; }
cc_die() {
  cc_log "ERROR: $*"
  exit 1
}
cc_have() { command -v "$1" >/dev/null 2>&1; }
# cc_usage FILE: print the comment block at the top of a script.
cc_usage() { awk 'NR > 1 && /^#/ { if (!/shellcheck/) { sub(/^# ?/, ""); print }; next } NR > 1 { exit }' "$1"; }

# Debian packages, by what needs them (used by scripts/setup).
# Qt 6 (PySide6 wheels): what `ldd` on the xcb/wayland/offscreen platform plugins
# and the Qt libraries asks for, beyond the base system. Without
# libxcb-icccm4/keysyms1 Qt's error message names only libxcb-cursor0.
CC_DEBS_QT=(
  libdbus-1-3 libegl1 libgl1 libfontconfig1 libfreetype6 libglib2.0-0
  libx11-6 libx11-xcb1 libxcb1 libxcb-cursor0 libxcb-glx0 libxcb-icccm4
  libxcb-image0 libxcb-keysyms1 libxcb-randr0 libxcb-render0 libxcb-render-util0
  libxcb-shape0 libxcb-shm0 libxcb-sync1 libxcb-util1 libxcb-xfixes0 libxcb-xkb1
  libxkbcommon0 libxkbcommon-x11-0 libwayland-client0 libwayland-cursor0
  libwayland-egl1 fonts-dejavu-core
)
# The OS keyring on a headless machine: a private D-Bus session bus with
# gnome-keyring's Secret Service on it. libsecret-tools gives secret-tool,
# used to diagnose; dbus-bin gives dbus-send.
CC_DEBS_KEYRING=(dbus dbus-daemon dbus-bin gnome-keyring libsecret-tools)
# A virtual screen, only where there is no real one (and always for tests).
CC_DEBS_XVFB=(xvfb)
# Audio devices for the console (sounddevice loads PortAudio at run time).
# libasound2-plugins: ALSA's pulse plugin, how PortAudio (ALSA host API) reaches
# PulseAudio/PipeWire-pulse inputs such as a USB stethoscope (device "pulse").
CC_DEBS_MEDIA=(libportaudio2 libasound2-plugins)
# The real peers the tests run against (DESIGN.md §5): Janus and its janus.js,
# coturn, headless Chromium, a PulseAudio virtual microphone, network
# namespaces with loss (nftables), a static web server for the patient page, and
# dciodvfy plus Orthanc with DICOMweb for the DICOM export and STOW-RS tests.
CC_DEBS_TEST_SERVERS=(
  janus libjs-janus-gateway coturn chromium chromium-driver pulseaudio
  pulseaudio-utils libasound2-plugins iproute2 nftables nginx-light
  dicom3tools orthanc orthanc-dicomweb
)
# Headers the dev extras build from source (pyproject.toml): python-dbusmock's
# dbus-python (libdbus-1-dev, libglib2.0-dev, pkg-config) and PyGObject, which
# dbusmock's logind template imports (libgirepository1.0-dev, libcairo2-dev).
CC_DEBS_DEV_HEADERS=(libdbus-1-dev libglib2.0-dev pkg-config libgirepository1.0-dev libcairo2-dev)
# Building, signing and verifying installers (installers/).
CC_DEBS_BUILD=(gnupg dpkg-dev fakeroot zstd binutils)

# Run a command as root: directly when we are root, else through sudo.
cc_as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif cc_have sudo; then
    if [ -t 0 ]; then sudo "$@"; else sudo -n "$@"; fi
  else
    return 127
  fi
}

cc_deb_installed() {
  [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" = installed ]
}

CC_APT_UPDATED=0
# cc_ensure_debs PKG...: install the Debian packages that are missing.
# Runs `apt-get update` once, and only when something is missing.
# CLINICIAN_CONSOLE_SKIP_APT=1 skips this (you provide the libraries yourself).
cc_ensure_debs() {
  if [ "${CLINICIAN_CONSOLE_SKIP_APT:-0}" = 1 ]; then
    return 0
  fi
  if ! cc_have dpkg-query; then
    cc_log "WARNING: not a Debian-like system; make sure the equivalents of these are installed: $*"
    return 0
  fi
  local missing=() p
  for p in "$@"; do
    cc_deb_installed "$p" || missing+=("$p")
  done
  [ "${#missing[@]}" -eq 0 ] && return 0
  cc_log "system packages missing: ${missing[*]}"
  if ! cc_have apt-get; then
    cc_die "apt-get is not available; install these packages (or their equivalents) and run again: ${missing[*]}"
  fi
  if [ "$(id -u)" -ne 0 ] && ! cc_have sudo; then
    cc_die "not root and no sudo; as root run: apt-get update && apt-get install -y ${missing[*]}"
  fi
  if [ "$CC_APT_UPDATED" = 0 ]; then
    cc_log "apt-get update"
    cc_as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq ||
      cc_die "apt-get update failed (as root run: apt-get update && apt-get install -y ${missing[*]})"
    CC_APT_UPDATED=1
  fi
  cc_log "apt-get install ${missing[*]}"
  cc_as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    -o Dpkg::Use-Pty=0 "${missing[@]}" >&2 ||
    cc_die "apt-get install failed; as root run: apt-get install -y ${missing[*]}"
}

# The interpreter to build the venv with: $PYTHON, else python3, else python3.11.
cc_find_python() {
  local c
  for c in ${PYTHON:-} python3 python3.11; do
    if cc_have "$c" && "$c" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; then
      command -v "$c"
      return 0
    fi
  done
  cc_die "Python 3.11 not found (tried ${PYTHON:+\$PYTHON=$PYTHON, }python3, python3.11); on Debian 12: apt-get install python3 python3-venv"
}

cc_venv_ok() {
  [ -x "$CC_PY" ] && "$CC_PY" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null
}

# What the installed venv was built from: when this changes, reinstall.
cc_install_stamp() {
  {
    echo "setup=$CC_SETUP_VERSION root=$CC_ROOT"
    "$CC_PY" -c 'import sys; print(sys.version)'
    sha256sum "$CC_ROOT/pyproject.toml" | cut -d' ' -f1
  } | sha256sum | cut -d' ' -f1
}

# Fail if keyrings.alt is in the venv: it silently moves `keyring` to a plaintext file.
cc_check_no_keyrings_alt() {
  if "$CC_PY" -c 'import importlib.metadata as m; m.distribution("keyrings.alt")' 2>/dev/null; then
    cc_die "keyrings.alt is installed in $CC_VENV; it silently replaces the OS keyring with a plaintext file. Remove it: $CC_PY -m pip uninstall -y keyrings.alt"
  fi
}

# Create .venv/ and `pip install -e '.[dev]'` into it, unless the stamp of
# pyproject.toml's hash (and the interpreter) says that is already done.
cc_ensure_venv() {
  local py stamp_file="$CC_VENV/.clinician-console-install-stamp"
  # Two setups at once (say a launch and a test run) take turns.
  exec 8>"$CC_ROOT/.venv.setup.lock"
  flock 8
  if ! cc_venv_ok; then
    py="$(cc_find_python)"
    cc_log "creating $CC_VENV with $py ($("$py" --version 2>&1))"
    if ! "$py" -m venv --clear "$CC_VENV" 2>/dev/null; then
      # Debian's own python3 ships venv's pip in a separate package.
      cc_ensure_debs python3-venv python3.11-venv
      "$py" -m venv --clear "$CC_VENV" || cc_die "python3 -m venv failed"
    fi
    "$CC_PY" -m pip install -q --upgrade pip >&2 || cc_log "WARNING: could not upgrade pip; going on with $("$CC_PY" -m pip --version)"
  fi
  local want have=""
  want="$(cc_install_stamp)"
  [ -f "$stamp_file" ] && have="$(cat "$stamp_file")"
  if [ "$want" = "$have" ] && "$CC_PY" -c 'import importlib.metadata as m; m.distribution("clinician-console")' 2>/dev/null; then
    cc_log "venv up to date ($CC_VENV; pyproject.toml unchanged)"
  else
    cc_log "pip install -e '.[dev,build]' into $CC_VENV"
    rm -f "$stamp_file"
    "$CC_PY" -m pip install -q --progress-bar off -e "${CC_ROOT}[dev,build]" >&2 ||
      cc_die "pip install -e '.[dev,build]' failed (see above)"
    echo "$want" >"$stamp_file"
  fi
  cc_check_no_keyrings_alt
  exec 8>&-
}

cc_have_display() { [ -n "${DISPLAY:-}" ] || [ -n "${WAYLAND_DISPLAY:-}" ]; }
