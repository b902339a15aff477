# shellcheck shell=bash
# Functions every node script uses; rendered in front of each script's own body.

# Runs "$@" until it succeeds, at most $1 times, $2 seconds apart; logs each failure.
retry() {
  local attempts=$1 delay=$2 attempt=1
  shift 2
  until "$@"; do
    if [ "$attempt" -ge "$attempts" ]; then
      log "giving up after $attempt attempts: $*"
      return 1
    fi
    log "attempt $attempt of $attempts failed, retrying in ${delay}s: $*"
    attempt=$((attempt + 1))
    sleep "$delay"
  done
}
