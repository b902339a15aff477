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

# containerd 2 comes from its signed apt repository; the repository's key is trusted only when it is
# the one key whose fingerprint the stack pins (a mirror serves the same key, or its own pinned one).
add_containerd_repository() {
  local keyring="${ROOT}/etc/apt/keyrings/containerd-apt-keyring.gpg" found codename
  if [ ! -s "$keyring" ]; then
    install -d -m 0755 "$(dirname "$keyring")" || return 1
    retry 10 15 curl -fsSL -o "${keyring}.asc" "$CONTAINERD_REPOSITORY/gpg" || return 1
    found=$(gpg --batch --with-colons --show-keys "${keyring}.asc" |
      awk -F: '$1 == "pub" { primary = 1; next } $1 == "fpr" && primary { print $10; primary = 0 }')
    if [ "$found" != "$CONTAINERD_KEY_FINGERPRINT" ]; then
      log "refusing the key at $CONTAINERD_REPOSITORY/gpg: fingerprints ${found:-none}, expected $CONTAINERD_KEY_FINGERPRINT alone"
      rm -f "${keyring}.asc"
      return 1
    fi
    gpg --batch --yes --dearmor -o "$keyring" "${keyring}.asc" || return 1
  fi
  codename=$(sed -n 's/^VERSION_CODENAME=//p' "${ROOT}/etc/os-release") || return 1
  printf 'deb [signed-by=%s] %s %s stable\n' "$keyring" "$CONTAINERD_REPOSITORY" "$codename" \
    >"${ROOT}/etc/apt/sources.list.d/containerd.list"
}

# containerd.io replaces the distribution's containerd and runc. Its packaged config.toml disables the
# CRI plugin: dpkg keeps the node's own (confold), and never stops at a prompt.
install_containerd_package() {
  apt-mark unhold containerd.io >/dev/null 2>&1 || true
  retry 5 15 "${APT[@]}" install -y --allow-change-held-packages \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "containerd.io=$CONTAINERD_PACKAGE" || return 1
  apt-mark hold containerd.io >/dev/null
}

# The major version of the containerd on PATH ("containerd containerd.io 2.3.1 <commit>" or
# "containerd github.com/containerd/containerd/v2 v2.3.1 <commit>").
containerd_major() {
  local version
  version=$(containerd --version | awk '{ print $3 }') || return 1
  version=${version#v}
  printf '%s' "${version%%.*}"
}
