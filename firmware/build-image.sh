#!/bin/bash
# Build a Raspberry Pi OS Lite image with microexpr installed, using pi-gen (in Docker).
#
#   firmware/build-image.sh bookworm|trixie [OUTPUT_DIR]
#
# bookworm: Python 3.11, runtime tflite-runtime 2.14 (numpy < 2, as apt's picamera2 expects)
# trixie:   Python 3.13, runtime ai-edge-litert (the only TFLite runtime with 3.13 wheels)
# Needs: docker, git, network access to the Raspberry Pi OS archive and PyPI.
set -euo pipefail
RELEASE=${1:?usage: build-image.sh bookworm|trixie [OUTPUT_DIR]}
OUT=${2:-$PWD/deploy}
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
PI_GEN_REF=${PI_GEN_REF:-2025-05-13-raspios-bookworm-arm64}   # a pi-gen release tag; arm64 branch
case "$RELEASE" in
    bookworm) EXTRAS="pi,tflite" ;;
    trixie)   EXTRAS="pi,litert"; PI_GEN_REF=${PI_GEN_REF_TRIXIE:-arm64} ;;
    *) echo "build-image: release must be bookworm or trixie, got '$RELEASE'" >&2; exit 2 ;;
esac
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

git clone --depth 1 --branch "$PI_GEN_REF" https://github.com/RPi-Distro/pi-gen.git "$WORK/pi-gen"
STAGE="$WORK/pi-gen/stage-microexpr"
cp -r "$HERE/pi-gen/stage-microexpr" "$STAGE"
FILES="$STAGE/00-install/files"
mkdir -p "$FILES/dist"
python3 -m pip wheel --no-deps -w "$FILES/dist" "$REPO"
cp -r "$REPO/models" "$REPO/systemd" "$REPO/firmware" "$REPO/docs" "$FILES/"
echo "$EXTRAS" > "$FILES/extras"
touch "$WORK/pi-gen/stage2/SKIP_IMAGES"       # only the final stage makes an image
touch "$STAGE/EXPORT_IMAGE"

cat > "$WORK/pi-gen/config" <<CONF
IMG_NAME=microexpr-$RELEASE
RELEASE=$RELEASE
DEPLOY_COMPRESSION=xz
TARGET_HOSTNAME=microexpr-unprovisioned
FIRST_USER_NAME=operator
DISABLE_FIRST_BOOT_USER_RENAME=1
ENABLE_SSH=1
PUBKEY_ONLY_SSH=1
LOCALE_DEFAULT=en_GB.UTF-8
STAGE_LIST="stage0 stage1 stage2 stage-microexpr"
CONF
if [ -n "${SSH_PUBKEY:-}" ]; then
    echo "PUBKEY_SSH_FIRST_USER=\"$SSH_PUBKEY\"" >> "$WORK/pi-gen/config"
fi
(cd "$WORK/pi-gen" && ./build-docker.sh)
mkdir -p "$OUT"
cp "$WORK"/pi-gen/deploy/*.img.xz "$OUT/"
echo "build-image: $(ls "$OUT"/*.img.xz)"
