#!/usr/bin/env bash
# Debian packages the test suite needs, installed when missing (`make test` runs this first; a
# machine that has them all pays one check per file). Each entry is path:package. The package
# lists are updated only when a missing package has no candidate, or an install from lists that
# went stale fails.
set -euo pipefail
needed=(
    /usr/sbin/mosquitto:mosquitto            # the MQTT broker of the tests and the ACL test
    /usr/bin/docker-compose:docker-compose   # `docker compose config` of docker-compose.yml
    /usr/bin/promtool:prometheus             # promtool check/test rules of deploy/prometheus
    /usr/bin/chromium:chromium               # the inbox page's browser test (tests/e2e)
    /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf:fonts-dejavu-core  # text in its screenshot
)
missing=()
for entry in "${needed[@]}"; do
    [ -e "${entry%%:*}" ] || missing+=("${entry#*:}")
done
[ "${#missing[@]}" -eq 0 ] && exit 0
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "installing Debian packages for the tests: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
updated=0
for package in "${missing[@]}"; do
    candidate=$(apt-cache policy "$package" 2>/dev/null | sed -n 's/^ *Candidate: //p')
    if [ -z "$candidate" ] || [ "$candidate" = "(none)" ]; then
        $sudo apt-get update -qq
        updated=1
        break
    fi
done
install_missing() { $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; }
if ! install_missing; then
    [ "$updated" -eq 0 ] || exit 1
    $sudo apt-get update -qq
    install_missing
fi
