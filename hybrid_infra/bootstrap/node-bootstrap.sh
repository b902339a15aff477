# shellcheck shell=bash
# Turns this VM into a Kubernetes node without anyone logging in: installs containerd and the
# Kubernetes packages, then runs `kubeadm init` (first control-plane node) or `kubeadm join`,
# retrying until the API answers. Idempotent: once done it leaves a marker and later runs exit at once.
# A first control-plane node that finds the cluster already answering (it was replaced) joins it
# instead of initialising a second cluster.
# Everything happens below ROOT: "" on a node, a scratch directory when the script is exercised.
readonly ROOT="${HYBRID_INFRA_ROOT:-}"
readonly MARKER="${ROOT}/var/lib/hybrid-infra/bootstrapped"
readonly KUBEADM_INIT_CONFIG="${ROOT}/etc/hybrid-infra/kubeadm-init.yaml"
readonly KUBEADM_JOIN_CONFIG="${ROOT}/etc/hybrid-infra/kubeadm-join.yaml"
readonly PKI_SOURCE="${ROOT}/etc/hybrid-infra/pki"
readonly CONTAINERD_CONFIG_SOURCE="${ROOT}/etc/hybrid-infra/containerd.toml"
readonly KEYRING="${ROOT}/etc/apt/keyrings/kubernetes-apt-keyring.gpg"
readonly KUBE_VIP_SOURCE="${ROOT}/etc/hybrid-infra/kube-vip.yaml"
readonly KUBE_VIP_MANIFEST="${ROOT}/etc/kubernetes/manifests/kube-vip.yaml"
APT=(apt-get -q -o DPkg::Lock::Timeout=600)
action="$STEP"

log() {
  printf '%s hybrid-infra-bootstrap[%s]: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$action" "$*" | tee -a "${ROOT}/var/log/hybrid-infra-bootstrap.log" >&2
}

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

install_packages() {
  if [ "$PREINSTALLED" = "true" ]; then
    local found
    found=$(kubeadm version -o short)
    if [ "$found" != "v$KUBERNETES_VERSION" ]; then
      log "the image has kubeadm $found, the cluster needs v$KUBERNETES_VERSION"
      return 1
    fi
    return 0
  fi
  export DEBIAN_FRONTEND=noninteractive
  retry 10 15 "${APT[@]}" update
  retry 5 15 "${APT[@]}" install -y apt-transport-https ca-certificates curl gpg containerd
  local minor repository
  minor=$(printf '%s' "$KUBERNETES_VERSION" | cut -d. -f1-2)
  repository="$PACKAGE_REPOSITORY/v$minor/deb/"
  if [ ! -s "$KEYRING" ]; then
    install -d -m 0755 "$(dirname "$KEYRING")"
    retry 10 15 curl -fsSL -o "${KEYRING}.asc" "${repository}Release.key"
    gpg --batch --yes --dearmor -o "$KEYRING" "${KEYRING}.asc"
  fi
  printf 'deb [signed-by=%s] %s /\n' "$KEYRING" "$repository" >"${ROOT}/etc/apt/sources.list.d/kubernetes.list"
  retry 10 15 "${APT[@]}" update
  local version="$KUBERNETES_VERSION-$PACKAGE_REVISION"
  retry 5 15 "${APT[@]}" install -y --allow-change-held-packages \
    "kubelet=$version" "kubeadm=$version" "kubectl=$version"
  apt-mark hold kubelet kubeadm kubectl
}

# The whole configuration comes rendered; installed only now, after the package, so dpkg never
# meets a configuration file it did not write.
configure_containerd() {
  install -d -m 0755 "${ROOT}/etc/containerd" &&
    install -m 0644 "$CONTAINERD_CONFIG_SOURCE" "${ROOT}/etc/containerd/config.toml" &&
    systemctl enable containerd &&
    systemctl restart containerd
}

prepare_node() {
  modprobe overlay
  modprobe br_netfilter
  sysctl --system >/dev/null
  swapoff -a
  sed -i '/\sswap\s/s/^/#/' "${ROOT}/etc/fstab"
}

# kubeadm reset empties /etc/kubernetes/pki and the manifests; each attempt starts from the originals.
place_pki() {
  [ -d "$PKI_SOURCE" ] || return 0
  local pki="${ROOT}/etc/kubernetes/pki" file
  install -d -m 0700 "$pki" "$pki/etcd"
  for file in ca.crt ca.key sa.key sa.pub front-proxy-ca.crt front-proxy-ca.key etcd/ca.crt etcd/ca.key; do
    install -m 0600 "$PKI_SOURCE/$file" "$pki/$file"
  done
}

# With a virtual IP, kube-vip on the control-plane nodes announces the API address.
announce_endpoint() {
  [ -s "$KUBE_VIP_SOURCE" ] || return 0
  install -d -m 0755 "$(dirname "$KUBE_VIP_MANIFEST")"
  install -m 0600 "$KUBE_VIP_SOURCE" "$KUBE_VIP_MANIFEST"
}

cluster_answers() {
  curl -fsS --max-time 5 --cacert "$PKI_SOURCE/ca.crt" "https://$API_ENDPOINT/readyz" >/dev/null 2>&1
}

kubeadm_step() {
  place_pki
  case "$action" in
    init)
      # kubeadm init waits for the API at the endpoint, so the address must be announced first.
      announce_endpoint
      kubeadm init --config "$KUBEADM_INIT_CONFIG" --skip-token-print
      ;;
    join-control-plane | join-worker) kubeadm join --config "$KUBEADM_JOIN_CONFIG" ;;
    *)
      log "unknown step $action"
      return 2
      ;;
  esac
}

attempt_kubeadm() {
  if kubeadm_step; then
    return 0
  fi
  kubeadm reset --force >/dev/null 2>&1 || true
  return 1
}

main() {
  if [ -e "$MARKER" ]; then
    log "already bootstrapped"
    return 0
  fi
  log "bootstrapping $NODE_NAME, Kubernetes $KUBERNETES_VERSION, endpoint $API_ENDPOINT"
  prepare_node
  install_packages
  configure_containerd
  systemctl enable kubelet
  if [ ! -e "${ROOT}/etc/kubernetes/kubelet.conf" ]; then
    if [ "$action" = init ] && cluster_answers; then
      action=join-control-plane
      log "the cluster already answers at $API_ENDPOINT: joining it instead of initialising"
    fi
    retry "$KUBEADM_ATTEMPTS" "$KUBEADM_RETRY_SECONDS" attempt_kubeadm
    # A joining node starts announcing only now: kubeadm join wants an empty manifests directory.
    if [ "$action" = join-control-plane ]; then
      announce_endpoint
    fi
  fi
  if [ -s "$KUBE_VIP_MANIFEST" ] && [ -e "${ROOT}/etc/kubernetes/admin.conf" ]; then
    # kube-vip needs super-admin.conf only while `kubeadm init` creates the RBAC for admin.conf.
    sed -i 's|/etc/kubernetes/super-admin.conf|/etc/kubernetes/admin.conf|' "$KUBE_VIP_MANIFEST"
  fi
  install -d -m 0755 "$(dirname "$MARKER")"
  touch "$MARKER"
  log "done"
}

main "$@"
