# shellcheck shell=bash
# Turns this VM into a Kubernetes node without anyone logging in: installs containerd and the
# Kubernetes packages, then runs `kubeadm init` (first control-plane node) or `kubeadm join`,
# retrying until the API answers. Idempotent: once done it leaves a marker and later runs exit at once.
# Everything happens below ROOT: "" on a node, a scratch directory when the script is exercised.
readonly ROOT="${HYBRID_INFRA_ROOT:-}"
readonly MARKER="${ROOT}/var/lib/hybrid-infra/bootstrapped"
readonly KUBEADM_CONFIG="${ROOT}/etc/hybrid-infra/kubeadm.yaml"
readonly PKI_SOURCE="${ROOT}/etc/hybrid-infra/pki"
readonly KEYRING="${ROOT}/etc/apt/keyrings/kubernetes-apt-keyring.gpg"
readonly KUBE_VIP_SOURCE="${ROOT}/etc/hybrid-infra/kube-vip.yaml"
readonly KUBE_VIP_MANIFEST="${ROOT}/etc/kubernetes/manifests/kube-vip.yaml"

log() {
  printf '%s hybrid-infra-bootstrap[%s]: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$STEP" "$*" | tee -a "${ROOT}/var/log/hybrid-infra-bootstrap.log" >&2
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
  retry 10 15 apt-get update -q
  retry 5 15 apt-get install -y -q apt-transport-https ca-certificates curl gpg containerd
  local minor repository
  minor=$(printf '%s' "$KUBERNETES_VERSION" | cut -d. -f1-2)
  repository="$PACKAGE_REPOSITORY/v$minor/deb/"
  if [ ! -s "$KEYRING" ]; then
    install -d -m 0755 "$(dirname "$KEYRING")"
    retry 10 15 curl -fsSL -o "${KEYRING}.asc" "${repository}Release.key"
    gpg --batch --yes --dearmor -o "$KEYRING" "${KEYRING}.asc"
  fi
  printf 'deb [signed-by=%s] %s /\n' "$KEYRING" "$repository" >"${ROOT}/etc/apt/sources.list.d/kubernetes.list"
  retry 10 15 apt-get update -q
  local version="$KUBERNETES_VERSION-$PACKAGE_REVISION"
  retry 5 15 apt-get install -y -q --allow-change-held-packages \
    "kubelet=$version" "kubeadm=$version" "kubectl=$version"
  apt-mark hold kubelet kubeadm kubectl
}

configure_containerd() {
  local config="${ROOT}/etc/containerd/config.toml"
  install -d -m 0755 "$(dirname "$config")"
  if [ ! -s "$config" ] || ! grep -q 'SystemdCgroup = true' "$config"; then
    containerd config default >"$config"
    sed -i -e 's/SystemdCgroup = false/SystemdCgroup = true/' \
      -e "s|config_path = ''|config_path = '/etc/containerd/certs.d'|" \
      -e 's|config_path = ""|config_path = "/etc/containerd/certs.d"|' "$config"
  fi
  systemctl enable containerd
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
place_control_plane_files() {
  [ -d "$PKI_SOURCE" ] || return 0
  local pki="${ROOT}/etc/kubernetes/pki" file
  install -d -m 0700 "$pki" "$pki/etcd"
  for file in ca.crt ca.key sa.key sa.pub front-proxy-ca.crt front-proxy-ca.key etcd/ca.crt etcd/ca.key; do
    install -m 0600 "$PKI_SOURCE/$file" "$pki/$file"
  done
  if [ -s "$KUBE_VIP_SOURCE" ]; then
    install -d -m 0755 "$(dirname "$KUBE_VIP_MANIFEST")"
    install -m 0600 "$KUBE_VIP_SOURCE" "$KUBE_VIP_MANIFEST"
  fi
}

kubeadm_step() {
  place_control_plane_files
  case "$STEP" in
    init) kubeadm init --config "$KUBEADM_CONFIG" --skip-token-print ;;
    join-control-plane | join-worker) kubeadm join --config "$KUBEADM_CONFIG" ;;
    *)
      log "unknown step $STEP"
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
    retry "$KUBEADM_ATTEMPTS" "$KUBEADM_RETRY_SECONDS" attempt_kubeadm
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
