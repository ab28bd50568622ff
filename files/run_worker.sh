#!/usr/bin/env bash
# Entry point of the fedora-ci image: starts one role of the fedora-ci binary.
#
#   ROLE         api | worker | listen | serve | migrate | check-config (required)
#   QUEUES       worker only: comma-separated queues, NAME or NAME=CONCURRENCY,
#                e.g. "short=16" or "long,short" [default: worker.queues of the config]
#   CONCURRENCY  worker only: concurrency of the QUEUES entries that give none
#
# Kerberos (worker and serve, the roles that talk to Koji): when FEDORA_CI_KEYTAB_PATH is set,
# a ticket for KRB5_PRINCIPAL [default: $FEDORA_CI_FAS_USER@$FEDORA_CI_KERBEROS_REALM] is
# obtained from that keytab before the binary starts, and KRB5_CLIENT_KTNAME lets GSSAPI
# renew it from the same keytab later. FEDORA_CI_* variables are also configuration
# overrides read by the binary itself (fedora-ci.example.toml).
#
# Arguments are appended to the role's command line. The binary is exec'd, so it is PID 1
# of the container and receives SIGTERM itself. Migrations run in the api (and serve) role,
# retried until the database answers; workers never migrate.
set -euo pipefail

die() {
  printf 'run_worker.sh: %s\n' "$*" >&2
  exit 2
}

# Gets a Kerberos ticket from the keytab, if one is configured.
kerberos_login() {
  local keytab=${FEDORA_CI_KEYTAB_PATH:-}
  [ -n "$keytab" ] || return 0
  [ -r "$keytab" ] || die "keytab $keytab (FEDORA_CI_KEYTAB_PATH) is not a readable file"
  local principal=${KRB5_PRINCIPAL:-}
  if [ -z "$principal" ]; then
    [ -n "${FEDORA_CI_FAS_USER:-}" ] \
      || die "FEDORA_CI_KEYTAB_PATH is set but neither KRB5_PRINCIPAL nor FEDORA_CI_FAS_USER is"
    principal="${FEDORA_CI_FAS_USER}@${FEDORA_CI_KERBEROS_REALM:-FEDORAPROJECT.ORG}"
  fi
  # A credential cache that an arbitrary, passwd-less UID can write.
  export KRB5CCNAME=${KRB5CCNAME:-FILE:/tmp/krb5cc_fedora-ci}
  export KRB5_CLIENT_KTNAME=$keytab
  local attempt
  for attempt in 1 2 3; do
    if kinit -k -t "$keytab" "$principal"; then
      return 0
    fi
    printf 'run_worker.sh: kinit as %s failed (attempt %d of 3)\n' "$principal" "$attempt" >&2
    [ "$attempt" -eq 3 ] || sleep "${KINIT_RETRY_DELAY:-5}"
  done
  die "cannot get a Kerberos ticket for $principal from $keytab"
}

# Prints the worker's --queue arguments, one per line, from QUEUES and CONCURRENCY.
queue_args() {
  local entry name count
  local -a entries
  IFS=',' read -r -a entries <<<"${QUEUES:-}"
  for entry in "${entries[@]}"; do
    entry=${entry#"${entry%%[![:space:]]*}"}
    entry=${entry%"${entry##*[![:space:]]}"}
    [ -n "$entry" ] || continue
    if [[ $entry == *=* ]]; then
      name=${entry%%=*}
      count=${entry#*=}
    else
      name=$entry
      count=${CONCURRENCY:-}
      [ -n "$count" ] || die "QUEUES entry '$name' gives no concurrency: write $name=N or set CONCURRENCY"
    fi
    [[ $name =~ ^[A-Za-z0-9_-]+$ ]] || die "QUEUES entry '$entry': '$name' is not a queue name"
    [[ $count =~ ^[1-9][0-9]*$ ]] || die "QUEUES entry '$entry': concurrency '$count' is not a whole number of at least 1"
    printf -- '--queue\n%s=%s\n' "$name" "$count"
  done
}

role=${ROLE:-}
args=()
case "$role" in
  api | listen | migrate | check-config) ;;
  serve)
    kerberos_login
    ;;
  worker)
    queues=$(queue_args) || exit $?
    if [ -n "$queues" ]; then
      mapfile -t args <<<"$queues"
    fi
    kerberos_login
    ;;
  "")
    die "ROLE is not set; set it to one of: api, worker, listen, serve, migrate, check-config"
    ;;
  *)
    die "unknown ROLE '$role'; expected one of: api, worker, listen, serve, migrate, check-config"
    ;;
esac

exec fedora-ci "$role" "${args[@]}" "$@"
