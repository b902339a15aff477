# shellcheck shell=bash
# Moves this node to KUBERNETES_VERSION in place, as kubeadm's upgrade guide does it: containerd 2 and
# its configuration for the new version first, then the package repository of the new minor, kubeadm,
# `kubeadm upgrade apply` on the first control-plane node (the cluster still runs the old version) or
# `kubeadm upgrade node` everywhere else, then kubelet and kubectl, and a kubelet restart. The
# system-upgrade-controller runs it on the host (chroot) after cordoning and draining the node, one
# control-plane node at a time, and uncordons the node when it succeeds. Idempotent: a node already
# at the version only gets its label. Its argument is the node's role: control-plane or worker.
# Everything happens below ROOT: "" on a node, a scratch directory when the script is exercised.
readonly ROOT="${HYBRID_INFRA_ROOT:-}"
readonly ROLE="${1:-}"
readonly NODE="${SYSTEM_UPGRADE_NODE_NAME:-}"
readonly KEYRING="/etc/apt/keyrings/kubernetes-apt-keyring.gpg"
readonly SOURCES="${ROOT}/etc/apt/sources.list.d/kubernetes.list"
readonly ADMIN_CONF="/etc/kubernetes/admin.conf"
readonly KUBELET_CONF="/etc/kubernetes/kubelet.conf"
readonly CONTAINERD_CONFIG_FILE="${ROOT}/etc/containerd/config.toml"
APT=(apt-get -q -o DPkg::Lock::Timeout=600)

log() {
  printf '%s hybrid-infra-upgrade[%s]: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$NODE" "$*" | tee -a "${ROOT}/var/log/hybrid-infra-upgrade.log" >&2
}

# pkgs.k8s.io has one repository per minor version; the signing key stays the same.
use_repository_of_version() {
  local minor
  minor=$(printf '%s' "$KUBERNETES_VERSION" | cut -d. -f1-2)
  printf 'deb [signed-by=%s] %s/v%s/deb/ /\n' "$KEYRING" "$PACKAGE_REPOSITORY" "$minor" >"$SOURCES" || return 1
  retry 10 15 "${APT[@]}" update
}

install_package() {
  local packages=("$@") versioned=() package
  for package in "${packages[@]}"; do
    versioned+=("$package=$KUBERNETES_VERSION-$PACKAGE_REVISION")
  done
  apt-mark unhold "${packages[@]}" >/dev/null || return 1
  retry 5 15 "${APT[@]}" install -y --allow-change-held-packages "${versioned[@]}" || return 1
  apt-mark hold "${packages[@]}" >/dev/null
}

# Kubernetes 1.35 is the last minor to support containerd 1.x. A node whose containerd is not
# containerd.io (the distribution's 1.7 on nodes made by earlier versions, or a 2.x update of it nobody
# pinned) moves to containerd.io before its kubelet moves; every node also gets the configuration of the
# new version (its pause image) before kubeadm restarts anything. The package is downloaded while the
# node still runs as it was; only then is the kubelet stopped (running containers outlive containerd's
# restart), and whatever fails after that, the kubelet is started again before the job ends.
containerd_io_installed() {
  [ "$(dpkg-query -W -f "\${db:Status-Status}" containerd.io 2>/dev/null)" = installed ]
}

update_containerd() {
  local rendered moving=false
  rendered=$(mktemp) || return 1
  printf '%s' "$CONTAINERD_CONFIG" >"$rendered" || return 1
  containerd_io_installed || moving=true
  if [ "$moving" = false ] && cmp -s "$rendered" "$CONTAINERD_CONFIG_FILE"; then
    rm -f "$rendered"
    return 0
  fi
  if [ "$moving" = true ]; then
    add_containerd_repository && retry 10 15 "${APT[@]}" update &&
      retry 5 15 "${APT[@]}" install -y --download-only "containerd.io=$CONTAINERD_PACKAGE" || return 1
  fi
  log "containerd: $([ "$moving" = true ] && echo "moving to containerd.io $CONTAINERD_PACKAGE, ")configuration of v$KUBERNETES_VERSION"
  systemctl stop kubelet || return 1
  if ! replace_containerd "$rendered" "$moving"; then
    log "containerd was not replaced; starting the kubelet again"
    systemctl start kubelet
    return 1
  fi
  rm -f "$rendered"
  systemctl start kubelet
}

replace_containerd() {
  local rendered=$1 moving=$2
  if [ "$moving" = true ]; then
    install_containerd_package || return 1
  fi
  install -m 0644 "$rendered" "$CONTAINERD_CONFIG_FILE" || return 1
  systemctl restart containerd || return 1
  retry 30 2 ctr version >/dev/null || return 1
  if [ "$(containerd_major)" != 2 ]; then
    log "containerd is not 2.x after the install"
    return 1
  fi
}

# The cluster's version as kubeadm keeps it; the first control-plane node to run finds the old one.
cluster_version() {
  kubectl --kubeconfig "$ADMIN_CONF" -n kube-system get configmap kubeadm-config \
    -o jsonpath='{.data.ClusterConfiguration}' | sed -n 's/^kubernetesVersion: *//p'
}

upgrade_kubeadm_state() {
  local running
  if [ "$ROLE" = control-plane ]; then
    running=$(cluster_version) || return 1
    if [ -z "$running" ]; then
      log "cannot read the cluster's version from kube-system/kubeadm-config"
      return 1
    fi
    if [ "$running" != "v$KUBERNETES_VERSION" ]; then
      log "the cluster runs $running: upgrading it to v$KUBERNETES_VERSION"
      kubeadm upgrade apply "v$KUBERNETES_VERSION" --yes
      return
    fi
  fi
  kubeadm upgrade node
}

label_node() {
  local kubeconfig="$KUBELET_CONF"
  if [ "$ROLE" = control-plane ]; then
    kubeconfig="$ADMIN_CONF"
  fi
  retry 10 10 kubectl --kubeconfig "$kubeconfig" label node "$NODE" "$VERSION_LABEL=$KUBERNETES_VERSION" --overwrite
}

main() {
  case "$ROLE" in
    control-plane | worker) ;;
    *)
      log "unknown role '$ROLE': expected control-plane or worker"
      return 2
      ;;
  esac
  if [ -z "$NODE" ]; then
    log "SYSTEM_UPGRADE_NODE_NAME is not set: run by the system-upgrade-controller only"
    return 2
  fi
  local kubelet
  kubelet=$(kubelet --version | awk '{print $2}')
  if [ "$kubelet" = "v$KUBERNETES_VERSION" ]; then
    log "already at v$KUBERNETES_VERSION"
  else
    log "upgrading $ROLE node from $kubelet to v$KUBERNETES_VERSION"
    export DEBIAN_FRONTEND=noninteractive
    update_containerd || return 1
    use_repository_of_version || return 1
    install_package kubeadm || return 1
    upgrade_kubeadm_state || return 1
    install_package kubelet kubectl || return 1
    systemctl daemon-reload || return 1
    systemctl restart kubelet || return 1
  fi
  label_node || return 1
  log "done"
}

main "$@"
