#!/usr/bin/env bash
# Make sure a PostgreSQL server answers at RECOVER_TEST_PG_URL's host (default 127.0.0.1:5432).
# On this project's machines one already runs; on a fresh machine install Debian's package and
# start its cluster, as a user would.  Exits non-zero (tests then fail, never skip) if it cannot.
set -euo pipefail
HOST=${PGHOST_CHECK:-127.0.0.1}
PORT=${PGPORT_CHECK:-5432}

answers() {
  python3 - "$HOST" "$PORT" <<'PY'
import socket, sys
s = socket.socket()
s.settimeout(1)
try:
    s.connect((sys.argv[1], int(sys.argv[2])))
except OSError:
    sys.exit(1)
PY
}

if answers; then
  echo "postgres: answering on $HOST:$PORT"
  exit 0
fi

echo "postgres: nothing on $HOST:$PORT; installing and starting it"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql >/dev/null
fi
VERSION=$(ls /etc/postgresql | sort -V | tail -1)
CONF=/etc/postgresql/$VERSION/main
# Tests connect as postgres over TCP without a password (trust on loopback only).
if ! grep -q "recover-tests" "$CONF/pg_hba.conf"; then
  $SUDO sed -i '1i host all all 127.0.0.1/32 trust # recover-tests\nhost all all ::1/128 trust # recover-tests' "$CONF/pg_hba.conf"
fi
$SUDO pg_ctlcluster --skip-systemctl-redirect "$VERSION" main start || $SUDO pg_ctlcluster "$VERSION" main start
for _ in $(seq 1 30); do
  if answers; then break; fi
  sleep 1
done
answers || { echo "postgres: could not start a server on $HOST:$PORT" >&2; exit 1; }
# The default test database.
$SUDO -u postgres psql -h "$HOST" -p "$PORT" -tc "SELECT 1 FROM pg_database WHERE datname='test'" | grep -q 1 \
  || $SUDO -u postgres createdb -h "$HOST" -p "$PORT" test
echo "postgres: started $VERSION on $HOST:$PORT"
