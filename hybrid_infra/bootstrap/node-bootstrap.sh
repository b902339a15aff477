# shellcheck shell=bash
# Turns this VM into a Kubernetes node without anyone logging in: installs containerd and the
# Kubernetes packages, then runs `kubeadm init` (first control-plane node) or `kubeadm join`,
# retrying until the API answers. Idempotent: once done it leaves a marker and later runs exit at once;
# the hybrid-infra-bootstrap systemd unit runs it again after a failure or a reboot until then.
# The first control-plane node comes rendered to initialise only while Pulumi's record says the
# cluster has never answered (a replaced first node comes rendered to join); should the cluster
# answer all the same, it joins rather than initialise a second one.
# Steps run inside `until` and `if`, where bash ignores `set -e`: every step checks each command itself.
# Everything happens below ROOT: "" on a node, a scratch directory when the script is exercised.
readonly ROOT="${HYBRID_INFRA_ROOT:-}"
readonly MARKER="${ROOT}/var/lib/hybrid-infra/bootstrapped"
readonly KUBEADM_INIT_CONFIG="${ROOT}/etc/hybrid-infra/kubeadm-init.yaml"
readonly KUBEADM_JOIN_CONFIG="${ROOT}/etc/hybrid-infra/kubeadm-join.yaml"
readonly PKI_SOURCE="${ROOT}/etc/hybrid-infra/pki"
readonly PKI="${ROOT}/etc/kubernetes/pki"
readonly PKI_FILES=(ca.crt ca.key sa.key sa.pub front-proxy-ca.crt front-proxy-ca.key etcd/ca.crt etcd/ca.key)
readonly ADMIN_CONF="${ROOT}/etc/kubernetes/admin.conf"
readonly ETCD_DATA="${ROOT}/var/lib/etcd/member"
readonly KUBEADM_FINISHED="${ROOT}/var/lib/hybrid-infra/kubeadm-finished"
readonly KUBEADM_CREDENTIALS_CONFIG="${ROOT}/etc/hybrid-infra/kubeadm-credentials.yaml"
readonly BOOTSTRAP_KUBECONFIG="${ROOT}/run/hybrid-infra/admin.conf"
# etcdctl inside kubeadm's etcd static pod, which mounts /etc/kubernetes/pki/etcd at the same path.
readonly ETCDCTL=(etcdctl --endpoints https://127.0.0.1:2379 --cacert /etc/kubernetes/pki/etcd/ca.crt
  --cert /etc/kubernetes/pki/etcd/healthcheck-client.crt --key /etc/kubernetes/pki/etcd/healthcheck-client.key)
readonly CONTAINERD_CONFIG_SOURCE="${ROOT}/etc/hybrid-infra/containerd.toml"
readonly KEYRING="${ROOT}/etc/apt/keyrings/kubernetes-apt-keyring.gpg"
readonly KUBE_VIP_SOURCE="${ROOT}/etc/hybrid-infra/kube-vip.yaml"
readonly KUBE_VIP_MANIFEST="${ROOT}/etc/kubernetes/manifests/kube-vip.yaml"
APT=(apt-get -q -o DPkg::Lock::Timeout=600)
action="$STEP"

log() {
  printf '%s hybrid-infra-bootstrap[%s]: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$action" "$*" | tee -a "${ROOT}/var/log/hybrid-infra-bootstrap.log" >&2
}

install_packages() {
  if [ "$PREINSTALLED" = "true" ]; then
    local found
    found=$(kubeadm version -o short)
    if [ "$found" != "v$KUBERNETES_VERSION" ]; then
      log "the image has kubeadm $found, the cluster needs v$KUBERNETES_VERSION"
      return 1
    fi
    found=$(containerd_major) || found=""
    if [ "$found" != 2 ]; then
      log "the image has containerd ${found:-none}.x, the cluster needs containerd 2"
      return 1
    fi
    return 0
  fi
  export DEBIAN_FRONTEND=noninteractive
  retry 10 15 "${APT[@]}" update || return 1
  retry 5 15 "${APT[@]}" install -y apt-transport-https ca-certificates curl gpg || return 1
  add_containerd_repository || return 1
  local minor repository
  minor=$(printf '%s' "$KUBERNETES_VERSION" | cut -d. -f1-2)
  repository="$PACKAGE_REPOSITORY/v$minor/deb/"
  if [ ! -s "$KEYRING" ]; then
    install -d -m 0755 "$(dirname "$KEYRING")"
    retry 10 15 curl -fsSL -o "${KEYRING}.asc" "${repository}Release.key"
    gpg --batch --yes --dearmor -o "$KEYRING" "${KEYRING}.asc"
  fi
  printf 'deb [signed-by=%s] %s /\n' "$KEYRING" "$repository" >"${ROOT}/etc/apt/sources.list.d/kubernetes.list"
  retry 10 15 "${APT[@]}" update || return 1
  install_containerd_package || return 1
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
# A missing key is an error: kubeadm would quietly make a new CA and a cluster nobody else trusts.
place_pki() {
  local file
  install -d -m 0700 "$PKI" "$PKI/etcd" || return 1
  for file in "${PKI_FILES[@]}"; do
    if [ ! -s "$PKI_SOURCE/$file" ]; then
      log "$PKI_SOURCE/$file is missing: refusing to let kubeadm make new cluster keys"
      return 1
    fi
    install -m 0600 "$PKI_SOURCE/$file" "$PKI/$file" || return 1
  done
}

# With a virtual IP, kube-vip on the control-plane nodes announces the API address.
announce_endpoint() {
  [ -s "$KUBE_VIP_SOURCE" ] || return 0
  install -d -m 0755 "$(dirname "$KUBE_VIP_MANIFEST")" &&
    install -m 0600 "$KUBE_VIP_SOURCE" "$KUBE_VIP_MANIFEST"
}

# Any HTTP answer over TLS verified against the cluster's CA means the cluster exists, whatever its
# status: an API server whose etcd is degraded answers 500, and one that refuses the anonymous probe
# 401 or 403. Only no answer at all (nothing listens, or TLS fails), ANSWER_ATTEMPTS times
# ANSWER_RETRY_SECONDS apart, leaves the first node to initialise: a load balancer routes to a dead
# member until its health checks mark it down.
cluster_answers() {
  local status attempt=1
  while :; do
    status=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 5 --cacert "$PKI_SOURCE/ca.crt" \
      "https://$API_ENDPOINT/readyz" 2>/dev/null) || true
    if [ -n "$status" ] && [ "$status" != 000 ]; then
      return 0
    fi
    if [ "$attempt" -ge "$ANSWER_ATTEMPTS" ]; then
      return 1
    fi
    attempt=$((attempt + 1))
    sleep "$ANSWER_RETRY_SECONDS"
  done
}

# From the moment etcd holds data and admin.conf exists, this node carries a live cluster.
control_plane_initialised() {
  [ -e "$ADMIN_CONF" ] && [ -d "$ETCD_DATA" ]
}

# The phases of `kubeadm init` after wait-control-plane, each idempotent (cmd/kubeadm/app/cmd/init.go;
# upload-certs is left out as init itself skips it without --upload-certs).
finish_init() {
  local config=(--config "$KUBEADM_INIT_CONFIG")
  kubeadm init phase upload-config all "${config[@]}" &&
    kubeadm init phase mark-control-plane "${config[@]}" &&
    kubeadm init phase bootstrap-token --skip-token-print "${config[@]}" &&
    kubeadm init phase kubelet-finalize all "${config[@]}" &&
    kubeadm init phase addon all "${config[@]}"
}

# A joining control-plane node holds the cluster CA, so it signs itself a short-lived admin certificate.
make_admin_credentials() {
  install -d -m 0700 "$(dirname "$BOOTSTRAP_KUBECONFIG")" || return 1
  (umask 077 && kubeadm kubeconfig user --config "$KUBEADM_CREDENTIALS_CONFIG" --client-name "hybrid-infra-$NODE_NAME" \
    --org "$ADMIN_GROUP" --validity-period 2h >"$BOOTSTRAP_KUBECONFIG") || return 1
  [ -s "$BOOTSTRAP_KUBECONFIG" ]
}

kubectl_admin() {
  timeout 60 kubectl --kubeconfig "$BOOTSTRAP_KUBECONFIG" "$@"
}

# Runs etcdctl in the first etcd pod that answers; a dead node's pod may still be listed as Running.
etcdctl_in_cluster() {
  local pods pod
  pods=$(kubectl_admin -n kube-system get pods -l component=etcd,tier=control-plane \
    --field-selector status.phase=Running -o 'jsonpath={.items[*].metadata.name}') || return 1
  for pod in $pods; do
    [ "$pod" != "etcd-$NODE_NAME" ] || continue
    kubectl_admin -n kube-system exec "$pod" -- "${ETCDCTL[@]}" "$@" && return 0
  done
  log "no etcd pod answered: etcdctl $*"
  return 1
}

# `etcdctl member list --write-out simple` prints: ID, status, name, peer URLs, client URLs, is learner.
etcd_members() {
  etcdctl_in_cluster member list --write-out simple
}

is_control_plane_node() {
  local node
  for node in $CONTROL_PLANE_NODES; do
    [ "$node" != "$1" ] || return 0
  done
  return 1
}

member_started_and_voting() {
  local line status name
  while IFS= read -r line; do
    IFS=', ' read -r _ status name _ <<<"$line"
    if [ "$name" = "$1" ] && [ "$status" = started ] && [ "${line##*, }" = false ]; then
      return 0
    fi
  done <<<"$2"
  return 1
}

# etcd admits one learner at a time: control-plane node i joins once nodes 0..i-1 are voting members.
earlier_members_started() {
  local members node
  [ "${CONTROL_PLANE_NODES%% *}" != "$NODE_NAME" ] || return 0
  members=$(etcd_members) || return 1
  for node in $CONTROL_PLANE_NODES; do
    [ "$node" != "$NODE_NAME" ] || return 0
    if ! member_started_and_voting "$node" "$members"; then
      log "waiting for the etcd member of $node to be started and voting: etcd admits one learner at a time"
      return 1
    fi
  done
}

# kubeadm join's check-etcd phase dials every member, so a dead node's member fails the join. Stale
# are a member named after this node (its previous life) and members of nodes the cluster no longer
# has; their Node objects go too. A member without a name has not started yet: it is joining.
remove_stale_members() {
  local members line id name
  members=$(etcd_members) || return 1
  while IFS= read -r line; do
    IFS=', ' read -r id _ name _ <<<"$line"
    [ -n "$name" ] || continue
    if [ "$name" = "$NODE_NAME" ] || ! is_control_plane_node "$name"; then
      log "removing the stale etcd member $name ($id) and its Node"
      etcdctl_in_cluster member remove "$id" >/dev/null || return 1
      kubectl_admin delete node "$name" --ignore-not-found || return 1
    fi
  done <<<"$members"
}

prepare_control_plane_join() {
  make_admin_credentials || return 1
  if ! retry "$ETCD_ATTEMPTS" "$KUBEADM_RETRY_SECONDS" earlier_members_started; then
    log "joining although the earlier control-plane nodes' etcd members are not all voting; kubeadm join retries"
  fi
  retry "$ETCD_ATTEMPTS" "$KUBEADM_RETRY_SECONDS" remove_stale_members || return 1
  rm -f "$BOOTSTRAP_KUBECONFIG"
}

# cloud-init keeps the user data, keys and join token included, as user-data.txt, user-data.txt.i and
# cloud-config.txt under /var/lib/cloud/instances/<id>/, linked as instance/ (cloudinit/helpers.py
# Paths lookups, cloudinit/handlers/cloud_config.py), and writes them again at every boot. The
# kubeadm configurations carry the join token. kubeadm's copies under /etc/kubernetes/pki stay.
forget_key_material() {
  local directory
  for directory in "${ROOT}/var/lib/cloud/instance" "${ROOT}"/var/lib/cloud/instances/*; do
    rm -f "$directory/user-data.txt" "$directory/user-data.txt.i" "$directory/cloud-config.txt" || return 1
  done
  rm -rf "$PKI_SOURCE"
  rm -f "$KUBEADM_INIT_CONFIG" "$KUBEADM_JOIN_CONFIG"
}

# A failed kubeadm leaves a half-made node that the next attempt cannot build on, so it is reset,
# except once this node's control plane holds cluster state: resetting then would wipe the cluster.
attempt_kubeadm() {
  case "$action" in
    init)
      if control_plane_initialised; then
        log "the control plane holds cluster state: running the phases after wait-control-plane again"
        finish_init
        return
      fi
      place_pki || return 1
      # kubeadm init waits for the API at the endpoint, so the address must be announced first.
      announce_endpoint || return 1
      kubeadm init --config "$KUBEADM_INIT_CONFIG" --skip-token-print && return 0
      if control_plane_initialised; then
        log "kubeadm init failed after etcd started: keeping the cluster, the next attempt finishes it"
        return 1
      fi
      ;;
    join-control-plane)
      place_pki || return 1
      kubeadm join --config "$KUBEADM_JOIN_CONFIG" && return 0
      ;;
    join-worker)
      kubeadm join --config "$KUBEADM_JOIN_CONFIG" && return 0
      ;;
    *)
      log "unknown step $action"
      return 2
      ;;
  esac
  kubeadm reset --force >/dev/null 2>&1 || log "kubeadm reset failed; the next attempt may fail too"
  return 1
}

main() {
  if [ -e "$MARKER" ]; then
    forget_key_material
    log "already bootstrapped; cloud-init's copies of the key material are deleted again"
    return 0
  fi
  trap 'rm -f "$BOOTSTRAP_KUBECONFIG"' EXIT
  log "bootstrapping $NODE_NAME, Kubernetes $KUBERNETES_VERSION, endpoint $API_ENDPOINT"
  prepare_node
  install_packages
  configure_containerd
  systemctl enable kubelet
  if [ ! -e "$KUBEADM_FINISHED" ]; then
    if [ "$action" = init ] && ! control_plane_initialised && cluster_answers; then
      action=join-control-plane
      log "the cluster already answers at $API_ENDPOINT: joining it instead of initialising"
    fi
    if [ "$action" != join-worker ]; then
      # Checked once up front: a missing key does not come back by retrying.
      place_pki
    fi
    if [ "$action" = join-control-plane ]; then
      prepare_control_plane_join
    fi
    retry "$KUBEADM_ATTEMPTS" "$KUBEADM_RETRY_SECONDS" attempt_kubeadm
    install -d -m 0755 "$(dirname "$KUBEADM_FINISHED")"
    touch "$KUBEADM_FINISHED"
    # A joining node starts announcing only now: kubeadm join wants an empty manifests directory.
    if [ "$action" = join-control-plane ]; then
      announce_endpoint
    fi
  fi
  if [ -s "$KUBE_VIP_MANIFEST" ] && [ -e "$ADMIN_CONF" ]; then
    # kube-vip needs super-admin.conf only while `kubeadm init` creates the RBAC for admin.conf.
    sed -i 's|/etc/kubernetes/super-admin.conf|/etc/kubernetes/admin.conf|' "$KUBE_VIP_MANIFEST"
  fi
  forget_key_material
  install -d -m 0755 "$(dirname "$MARKER")"
  touch "$MARKER"
  log "done; cloud-init's copies of the key material are deleted"
}

main "$@"
