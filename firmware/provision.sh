#!/bin/bash
# First-boot provisioning of a microexpr unit from a file on the boot partition.
#
#   provision.sh [PROVISION_FILE]     (default /boot/firmware/microexpr-provision.conf)
#
# The file holds KEY=VALUE lines (no shell is evaluated; '#' starts a comment):
#   DEVICE_ID=room-12                 required: letters, digits, '-' and '_'
#   SITE=Head office                  free-text labels for the fleet view
#   ROOM=Interview room 12
#   MQTT_URL=mqtts://broker.example:8883   empty = the unit buffers events locally only
#   MQTT_USERNAME=room-12
#   MQTT_PASSWORD=...                 stored as a systemd credential, never in config.toml
#   MQTT_CA=ca.crt                    PEM, path relative to the provisioning file
#   MQTT_CERT=client.crt MQTT_KEY=client.key   optional mutual TLS
#   DASHBOARD_PASSWORD=...            the on-device dashboard's login
#   SOURCE_KIND=picamera2             picamera2 (default) | webcam
#   GPIO_ENABLED=true                 recording LED, fault LED, session button
#
# It writes /etc/microexpr/config.toml, the credentials under
# /etc/microexpr/credentials/, the hostname, the service user, and enables the
# units. Secrets are then erased from the boot partition (it is FAT: anyone
# holding the card could read them) and a secret-free summary is left instead.
# Bad input: one line on stderr naming the key, exit 2, nothing half-written.
set -euo pipefail
umask 077

PREFIX=${MICROEXPR_PREFIX:-/opt/microexpr}
ETC=${MICROEXPR_ETC:-/etc/microexpr}
FILE=${1:-}
if [ -z "$FILE" ]; then
    for f in /boot/firmware/microexpr-provision.conf /boot/microexpr-provision.conf; do
        [ -f "$f" ] && FILE=$f && break
    done
fi

die() { echo "provision: $*" >&2; exit 2; }
log() { echo "provision: $*"; }

if [ -z "$FILE" ] || [ ! -f "$FILE" ]; then
    if [ -f "$ETC/config.toml" ]; then
        log "no provisioning file; already provisioned ($ETC/config.toml exists)"
        exit 0
    fi
    die "no provisioning file (looked for /boot/firmware/microexpr-provision.conf and /boot/microexpr-provision.conf)"
fi
[ "$(id -u)" -eq 0 ] || die "must run as root"
DIR=$(cd "$(dirname "$FILE")" && pwd)

declare -A V=()
KNOWN="DEVICE_ID SITE ROOM MQTT_URL MQTT_USERNAME MQTT_PASSWORD MQTT_CA MQTT_CERT MQTT_KEY DASHBOARD_PASSWORD SOURCE_KIND GPIO_ENABLED"
lineno=0
while IFS= read -r line || [ -n "$line" ]; do
    lineno=$((lineno + 1))
    line=${line%$'\r'}                       # files edited on Windows
    [[ "$line" =~ ^[[:space:]]*(#|$) ]] && continue
    [[ "$line" =~ ^[[:space:]]*([A-Z_]+)[[:space:]]*=(.*)$ ]] || die "$FILE:$lineno: expected KEY=VALUE"
    key=${BASH_REMATCH[1]}
    value=${BASH_REMATCH[2]}
    value=${value#"${value%%[![:space:]]*}"}   # trim
    value=${value%"${value##*[![:space:]]}"}
    if [[ "$value" =~ ^\"(.*)\"$ ]]; then value=${BASH_REMATCH[1]}; fi
    [[ " $KNOWN " == *" $key "* ]] || die "$FILE:$lineno: unknown key $key"
    [[ "$value" == *[[:cntrl:]]* ]] && die "$FILE:$lineno: $key contains control characters"
    V[$key]=$value
done < "$FILE"

get() { printf '%s' "${V[$1]:-${2:-}}"; }
DEVICE_ID=$(get DEVICE_ID)
[[ "$DEVICE_ID" =~ ^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$ ]] || die "DEVICE_ID: 1-63 letters, digits, '-' or '_' (got '${DEVICE_ID}')"
MQTT_URL=$(get MQTT_URL)
if [ -n "$MQTT_URL" ]; then
    [[ "$MQTT_URL" =~ ^mqtts?://[^/@[:space:]]+(:[0-9]+)?/?$ ]] \
        || die "MQTT_URL: expected mqtt://host[:port] or mqtts://host[:port] without credentials (got '$MQTT_URL')"
fi
SOURCE_KIND=$(get SOURCE_KIND picamera2)
[[ "$SOURCE_KIND" =~ ^(picamera2|webcam)$ ]] || die "SOURCE_KIND: picamera2 or webcam (got '$SOURCE_KIND')"
GPIO_ENABLED=$(get GPIO_ENABLED true)
[[ "$GPIO_ENABLED" =~ ^(true|false)$ ]] || die "GPIO_ENABLED: true or false (got '$GPIO_ENABLED')"
MQTT_USERNAME=$(get MQTT_USERNAME)
[[ "$MQTT_USERNAME" =~ ^[^\"\\]*$ ]] || die "MQTT_USERNAME: must not contain quotes or backslashes"

pem() {  # pem KEY -> absolute path of a readable PEM file, or empty
    local rel
    rel=$(get "$1")
    [ -z "$rel" ] && return 0
    local p="$rel"
    [[ "$p" == /* ]] || p="$DIR/$p"
    [ -f "$p" ] || die "$1: file $rel not found beside $FILE"
    grep -q -- "-----BEGIN " "$p" || die "$1: $rel is not a PEM file"
    printf '%s' "$p"
}
CA=$(pem MQTT_CA)
CERT=$(pem MQTT_CERT)
KEY=$(pem MQTT_KEY)
{ [ -n "$CERT" ] && [ -z "$KEY" ]; } && die "MQTT_KEY: needed with MQTT_CERT"
{ [ -z "$CERT" ] && [ -n "$KEY" ]; } && die "MQTT_CERT: needed with MQTT_KEY"
[[ "$MQTT_URL" == mqtts://* ]] || { [ -z "$CA" ] && [ -z "$CERT" ]; } || die "MQTT_CA/MQTT_CERT: TLS files given but MQTT_URL is not mqtts://"

toml_str() {  # a TOML basic string
    local s=${1//\\/\\\\}
    s=${s//\"/\\\"}
    printf '"%s"' "$s"
}

# ---- the service user ---------------------------------------------------------
for g in video gpio; do
    getent group "$g" >/dev/null || groupadd --system "$g"
done
if ! getent passwd microexpr >/dev/null; then
    nologin=$(command -v nologin || echo /usr/sbin/nologin)
    useradd --system --home-dir /var/lib/microexpr --no-create-home --shell "$nologin" \
        --user-group --groups video,gpio microexpr
else
    usermod --append --groups video,gpio microexpr
fi

# ---- config and credentials, staged then moved into place -----------------------
STAGE=$(mktemp -d "${ETC%/*}/.microexpr-provision.XXXXXX")
trap 'rm -rf "$STAGE"' EXIT
mkdir -p "$STAGE/credentials" "$STAGE/tls"
{
    echo "# Written by provision.sh on $(date -u +%Y-%m-%dT%H:%M:%SZ) from $(basename "$FILE")."
    echo "# Every key is documented by: microexpr config --doc"
    echo "[device]"
    echo "id = $(toml_str "$DEVICE_ID")"
    echo "site = $(toml_str "$(get SITE)")"
    echo "room = $(toml_str "$(get ROOM)")"
    echo "data_dir = \"/var/lib/microexpr\""
    echo
    echo "[source]"
    echo "kind = \"$SOURCE_KIND\""
    echo
    echo "[mqtt]"
    echo "url = $(toml_str "$MQTT_URL")"
    [ -n "$MQTT_USERNAME" ] && echo "username = $(toml_str "$MQTT_USERNAME")"
    echo "# password: systemd credential mqtt_password (LoadCredential=), not stored here"
    [ -n "$CA" ] && echo "ca_file = \"$ETC/tls/ca.crt\""
    [ -n "$CERT" ] && echo "cert_file = \"$ETC/tls/client.crt\""
    [ -n "$KEY" ] && echo "key_file = \"$ETC/tls/client.key\""
    echo
    echo "[gpio]"
    echo "enabled = $GPIO_ENABLED"
    echo
    echo "[clips]"
    echo "publish = false  # privacy by default: no image leaves the unit"
} > "$STAGE/config.toml"
printf '%s' "$(get MQTT_PASSWORD)" > "$STAGE/credentials/mqtt_password"
printf '%s' "$(get DASHBOARD_PASSWORD)" > "$STAGE/credentials/dashboard_password"
[ -n "$CA" ] && cp "$CA" "$STAGE/tls/ca.crt"
[ -n "$CERT" ] && cp "$CERT" "$STAGE/tls/client.crt"
[ -n "$KEY" ] && cp "$KEY" "$STAGE/tls/client.key"

# root owns everything; the service's group may read the config and TLS files;
# credentials stay root-only (systemd hands them to the service itself).
chown -R root:microexpr "$STAGE"
chmod 0750 "$STAGE" "$STAGE/tls"
chmod 0640 "$STAGE/config.toml"
chmod 0700 "$STAGE/credentials"
chown -R root:root "$STAGE/credentials"
chmod 0600 "$STAGE/credentials/"*
[ -f "$STAGE/tls/ca.crt" ] && chmod 0644 "$STAGE/tls/ca.crt"
[ -f "$STAGE/tls/client.crt" ] && chmod 0644 "$STAGE/tls/client.crt"
[ -f "$STAGE/tls/client.key" ] && chmod 0640 "$STAGE/tls/client.key"
if [ -d "$ETC" ]; then
    rm -rf "$ETC.old"
    mv "$ETC" "$ETC.old"
fi
mv "$STAGE" "$ETC"
trap - EXIT
rm -rf "$ETC.old"

mkdir -p /var/lib/microexpr
chown microexpr:microexpr /var/lib/microexpr
chmod 0750 /var/lib/microexpr

# ---- host name ------------------------------------------------------------------
echo "$DEVICE_ID" > /etc/hostname
if grep -q '^127\.0\.1\.1' /etc/hosts 2>/dev/null; then
    sed -i "s/^127\.0\.1\.1.*/127.0.1.1\t$DEVICE_ID/" /etc/hosts
else
    printf '127.0.1.1\t%s\n' "$DEVICE_ID" >> /etc/hosts
fi

# ---- units ------------------------------------------------------------------------
for unit in microexpr.service microexpr-dashboard.service; do
    src="$PREFIX/systemd/$unit"
    [ -f "$src" ] || die "$src missing: the image does not contain the microexpr units"
    install -m 0644 "$src" "/etc/systemd/system/$unit"
done
if command -v systemctl >/dev/null; then
    systemctl enable microexpr.service microexpr-dashboard.service
else
    mkdir -p /etc/systemd/system/multi-user.target.wants
    for unit in microexpr.service microexpr-dashboard.service; do
        ln -sf "/etc/systemd/system/$unit" "/etc/systemd/system/multi-user.target.wants/$unit"
    done
fi

# ---- secrets off the boot partition -------------------------------------------------
{
    echo "# microexpr unit provisioned $(date -u +%Y-%m-%dT%H:%M:%SZ); secrets were removed from this partition."
    echo "DEVICE_ID=$DEVICE_ID"
    echo "SITE=$(get SITE)"
    echo "ROOM=$(get ROOM)"
    echo "MQTT_URL=$MQTT_URL"
} > "$DIR/microexpr-provisioned.txt"
for f in "$FILE" ${KEY:+"$KEY"}; do
    shred -u "$f" 2>/dev/null || rm -f "$f"
done
sync
log "unit $DEVICE_ID provisioned: $ETC/config.toml written, microexpr.service enabled"
