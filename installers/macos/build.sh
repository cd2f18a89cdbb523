#!/usr/bin/env bash
# NOT YET RUN: written for macOS 13+ with Xcode command line tools and
# Python 3.11; never executed (we have no Mac). Expect small fixes on the
# first real build.
#
#   bash installers/macos/build.sh [--sign]
#
# 1. the .app from the shared spec (installers/clinician-console.spec makes
#    "dist/Clinician Console.app" on macOS), version from pyproject.toml
# 2. with --sign: codesign every Mach-O inside the .app and the .app itself
#    (hardened runtime, entitlements.plist) with $CC_CODESIGN_IDENTITY
#    ("Developer ID Application: ..."), a component pkg signed with
#    $CC_INSTALLER_IDENTITY ("Developer ID Installer: ..."), notarised with
#    notarytool (keychain profile $CC_NOTARY_PROFILE) and stapled
# Prints the pkg's size and the build time, like scripts/build-bundle.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
sign=0
[ "${1:-}" = --sign ] && sign=1
t0=$(date +%s)
# Single source of the version: pyproject.toml (as the spec, the .deb and the MSI).
version="$(python3 -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])')"

python3 -m pip install -e '.[build]'
# The .icns from the SVG (sips/iconutil ship with macOS; rsvg-convert from Homebrew's librsvg).
iconset="build/clinician-console.iconset"
mkdir -p "$iconset"
for size in 16 32 64 128 256 512; do
  rsvg-convert -w "$size" -h "$size" installers/icons/clinician-console.svg -o "$iconset/icon_${size}x${size}.png"
  rsvg-convert -w $((size * 2)) -h $((size * 2)) installers/icons/clinician-console.svg -o "$iconset/icon_${size}x${size}@2x.png"
done
iconutil -c icns "$iconset" -o installers/icons/clinician-console.icns

CC_CODESIGN_IDENTITY="${CC_CODESIGN_IDENTITY:-}" python3 -m PyInstaller --noconfirm --clean \
  --distpath dist --workpath build/pyinstaller installers/clinician-console.spec
app="dist/Clinician Console.app"
"$app/Contents/MacOS/clinician-console" check --json

if [ "$sign" = 1 ]; then
  : "${CC_CODESIGN_IDENTITY:?set CC_CODESIGN_IDENTITY to the Developer ID Application identity}"
  : "${CC_INSTALLER_IDENTITY:?set CC_INSTALLER_IDENTITY to the Developer ID Installer identity}"
  : "${CC_NOTARY_PROFILE:?set CC_NOTARY_PROFILE (xcrun notarytool store-credentials)}"
  # Inside out: every library and executable, then the bundle.
  find "$app/Contents" -type f \( -name '*.dylib' -o -name '*.so' -o -perm -u+x \) -print0 |
    xargs -0 codesign --force --timestamp --options runtime \
      --entitlements installers/macos/entitlements.plist --sign "$CC_CODESIGN_IDENTITY"
  codesign --force --timestamp --options runtime \
    --entitlements installers/macos/entitlements.plist --sign "$CC_CODESIGN_IDENTITY" "$app"
  codesign --verify --deep --strict --verbose=2 "$app"
fi

pkg="dist/ClinicianConsole-$version.pkg"
root="build/pkgroot"
rm -rf "$root"
mkdir -p "$root/Applications" "$root/Library/Application Support/ClinicianConsole"
cp -R "$app" "$root/Applications/"
# The policy folder only; IT's MDM deploys policy.toml into it. The pkg never
# ships a policy file, so a deployed one survives upgrades.
pkg_args=(--root "$root" --identifier org.clinician-console.console --version "$version"
  --install-location / "$pkg")
[ "$sign" = 1 ] && pkg_args=(--sign "$CC_INSTALLER_IDENTITY" --timestamp "${pkg_args[@]}")
pkgbuild "${pkg_args[@]}"

if [ "$sign" = 1 ]; then
  xcrun notarytool submit "$pkg" --keychain-profile "$CC_NOTARY_PROFILE" --wait
  xcrun stapler staple "$pkg"
  pkgutil --check-signature "$pkg"
  spctl --assess --type install --verbose "$pkg"
fi
echo "build-pkg: $pkg: $(($(stat -f %z "$pkg") / 1048576)) MiB, built in $(($(date +%s) - t0)) s"
