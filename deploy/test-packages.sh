#!/usr/bin/env bash
# Debian packages the test suite needs, installed when missing (`make test` runs this first; a
# machine that has them all pays one check per binary). Each entry is binary:package.
set -euo pipefail
needed=(
    /usr/sbin/mosquitto:mosquitto            # the MQTT broker of the tests and the ACL test
    /usr/bin/docker-compose:docker-compose   # `docker compose config` of docker-compose.yml
    /usr/bin/promtool:prometheus             # promtool check/test rules of deploy/prometheus
)
missing=()
for entry in "${needed[@]}"; do
    [ -x "${entry%%:*}" ] || missing+=("${entry#*:}")
done
[ "${#missing[@]}" -eq 0 ] && exit 0
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "installing Debian packages for the tests: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
