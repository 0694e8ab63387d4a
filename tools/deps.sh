#!/bin/sh
# Installs the Debian packages otsync needs to build and test, when any is missing.
# Used by ./run-tests and ./run-demo; safe to run again.
set -eu
PKGS="build-essential autoconf automake libtool pkg-config libuv1-dev libcurl4-openssl-dev
libssl-dev libjansson-dev libprotobuf-c-dev protobuf-c-compiler libyaml-dev libcmocka-dev
libmicrohttpd-dev zlib1g-dev mandoc tzdata valgrind procps curl jq bc python3 time"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
# Node.js and npm run the conformance suite (the vendors' SDKs). A machine that has them from
# elsewhere (NodeSource's nodejs bundles npm and conflicts with Debian's npm) keeps its own.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    missing="$missing nodejs npm"
fi
if [ -n "$missing" ]; then
    echo "installing:$missing"
    if [ "$(id -u)" -ne 0 ]; then
        echo "run as root (or install these packages first):$missing" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
