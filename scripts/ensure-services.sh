#!/usr/bin/env bash
# Makes sure the NATS JetStream and PostgreSQL that tests talk to are reachable on this machine.
# NATS: when nothing answers, starts a local nats-server with JetStream (data under .data/nats-test).
# PostgreSQL: when nothing answers, starts the machine's cluster with pg_ctlcluster.
set -euo pipefail
cd "$(dirname "$0")/.."
say() { printf '\033[1;34m[services]\033[0m %s\n' "$*" >&2; }
reachable() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

nats_url=${SECBOT_TEST_NATS_URL:-nats://127.0.0.1:4222}
hostport=${nats_url#*://}; nats_host=${hostport%:*}; nats_port=${hostport##*:}
if ! reachable "$nats_host" "$nats_port"; then
  bin=$(command -v nats-server || true)
  [ -z "$bin" ] && [ -x /usr/sbin/nats-server ] && bin=/usr/sbin/nats-server
  if [ -z "$bin" ]; then
    say "installing nats-server (Debian package)"
    apt-get update -qq >/dev/null 2>&1 || true
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nats-server >/dev/null
    bin=/usr/sbin/nats-server
  fi
  mkdir -p .data/nats-test
  say "starting nats-server with JetStream on $nats_host:$nats_port (data in .data/nats-test)"
  nohup "$bin" -a "$nats_host" -p "$nats_port" -js -sd "$PWD/.data/nats-test" > .data/nats-test.log 2>&1 &
  echo $! > .data/nats-test.pid
  for _ in $(seq 1 50); do reachable "$nats_host" "$nats_port" && break; sleep 0.2; done
  reachable "$nats_host" "$nats_port" || { say "nats-server did not start; see .data/nats-test.log"; exit 1; }
fi

pg_host=${SECBOT_TEST_PG_HOST:-127.0.0.1}; pg_port=${SECBOT_TEST_PG_PORT:-5432}
if ! reachable "$pg_host" "$pg_port"; then
  if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
    version=$(ls /etc/postgresql | sort -V | tail -1)
    say "starting PostgreSQL $version (pg_ctlcluster)"
    pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  fi
  for _ in $(seq 1 50); do reachable "$pg_host" "$pg_port" && break; sleep 0.2; done
  reachable "$pg_host" "$pg_port" || { say "no PostgreSQL on $pg_host:$pg_port; set SECBOT_TEST_POSTGRES_DSN"; exit 1; }
fi
