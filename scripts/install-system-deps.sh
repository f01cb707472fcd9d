#!/usr/bin/env bash
# Installs the Debian packages whose real servers/clients the test-suite drives. Idempotent and quick when present.
set -euo pipefail
need=()
command -v redis-server >/dev/null || need+=(redis-server)
command -v radclient    >/dev/null || need+=(freeradius-utils)
command -v chromium     >/dev/null || need+=(chromium)
command -v chromedriver >/dev/null || need+=(chromium-driver)
command -v wrk          >/dev/null || need+=(wrk)
[ -x /usr/lib/postgresql/15/bin/postgres ] || need+=(postgresql-15)
command -v java         >/dev/null || need+=(openjdk-17-jre-headless)  # pyspark
if [ ${#need[@]} -eq 0 ]; then exit 0; fi
if [ "$(id -u)" -ne 0 ]; then
  echo "install-system-deps: need root to apt-get install: ${need[*]}" >&2
  exit 1
fi
echo "install-system-deps: installing ${need[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
