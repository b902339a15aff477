// kubelet-standin stands in for the kubelet on a node of the e2e tier's emulator (tests/e2e), where
// no container can run. It does what kubeadm and the bootstrap script need of a kubelet, and no
// more:
//   - `kubelet --version` answers with the Kubernetes version of this build;
//   - the static pods written for it run as processes of the node, with exactly their manifests'
//     command, arguments and environment. A container without a command runs its image's entrypoint:
//     the program on PATH named after the image (ghcr.io/kube-vip/kube-vip:v1.2.3 runs kube-vip).
//     A hostPath volume mounted at another path, and the pod's hostAliases, are bind mounts in a
//     mount namespace of the container's own (a FileOrCreate or DirectoryOrCreate path is checked
//     and created first, as the kubelet does);
//   - /healthz on the configured healthz address, which kubeadm waits for;
//   - TLS bootstrap with the bootstrap kubeconfig, through the kubelet's own code;
//   - the Node, its lease, and a mirror pod per static pod, Running with the node's address;
//   - exec into a static pod's container (the API server's `kubectl exec`), through the kubelet's
//     streaming server, running the command as a process of the node.
//
// It authenticates no caller of its port 10250: it listens only on the emulator's bridge.
package main

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/pflag"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/remotecommand"
	certutil "k8s.io/client-go/util/cert"
	"k8s.io/component-base/version"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/kubelet/pkg/cri/streaming"
	"k8s.io/kubernetes/pkg/kubelet/certificate/bootstrap"
	utilexec "k8s.io/utils/exec"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"
)

type kubeletConfig struct {
	StaticPodPath      string `json:"staticPodPath"`
	HealthzBindAddress string `json:"healthzBindAddress"`
	HealthzPort        *int32 `json:"healthzPort"`
	Port               *int32 `json:"port"`
}

type options struct {
	kubeconfig, bootstrapKubeconfig, config, hostnameOverride, nodeIP, nodeLabels, providerID string
	registerWithTaints, cloudProvider                                                         string
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == containerExecCommand {
		containerExec(os.Args[2:])
	}
	flags := pflag.NewFlagSet("kubelet", pflag.ContinueOnError)
	flags.ParseErrorsAllowlist.UnknownFlags = true
	var opts options
	showVersion := flags.Bool("version", false, "print the version and exit")
	flags.StringVar(&opts.kubeconfig, "kubeconfig", "", "")
	flags.StringVar(&opts.bootstrapKubeconfig, "bootstrap-kubeconfig", "", "")
	flags.StringVar(&opts.config, "config", "", "")
	flags.StringVar(&opts.hostnameOverride, "hostname-override", "", "")
	flags.StringVar(&opts.nodeIP, "node-ip", "", "")
	flags.StringVar(&opts.nodeLabels, "node-labels", "", "")
	flags.StringVar(&opts.providerID, "provider-id", "", "")
	flags.StringVar(&opts.registerWithTaints, "register-with-taints", "", "")
	flags.StringVar(&opts.cloudProvider, "cloud-provider", "", "")
	if err := flags.Parse(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	if *showVersion {
		fmt.Printf("Kubernetes %s\n", version.Get().GitVersion)
		return
	}
	if err := run(opts); err != nil {
		fmt.Fprintln(os.Stderr, "kubelet-standin:", err)
		os.Exit(1)
	}
}

func run(opts options) error {
	raw, err := os.ReadFile(opts.config)
	if err != nil {
		return err
	}
	var config kubeletConfig
	if err := yaml.Unmarshal(raw, &config); err != nil {
		return fmt.Errorf("%s: %w", opts.config, err)
	}
	name := opts.hostnameOverride
	if name == "" {
		if name, err = os.Hostname(); err != nil {
			return err
		}
	}
	address := opts.nodeIP
	if address == "" {
		if address, err = defaultAddress(); err != nil {
			return err
		}
	}
	taints, err := parseTaints(opts.registerWithTaints)
	if err != nil {
		return err
	}
	if opts.cloudProvider == "external" {
		// As the kubelet does: the cloud controller manager removes it once it initialised the node.
		taints = append(taints, corev1.Taint{Key: "node.cloudprovider.kubernetes.io/uninitialized", Value: "true", Effect: corev1.TaintEffectNoSchedule})
	}
	node := &standin{name: name, address: address, port: ptr.Deref(config.Port, 10250), providerID: opts.providerID, taints: taints, labels: parseLabels(opts.nodeLabels), pods: map[string]*staticPod{}}

	healthz := fmt.Sprintf("%s:%d", orDefault(config.HealthzBindAddress, "127.0.0.1"), ptr.Deref(config.HealthzPort, 10248))
	go serve(healthz, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") }))
	if err := node.serveStreaming(fmt.Sprintf("%s:%d", address, node.port)); err != nil {
		return err
	}
	go node.register(opts)
	for {
		node.sync(orDefault(config.StaticPodPath, "/etc/kubernetes/manifests"))
		time.Sleep(time.Second)
	}
}

func orDefault(value, fallback string) string {
	if value == "" {
		return fallback
	}
	return value
}

func serve(address string, handler http.Handler) {
	if err := http.ListenAndServe(address, handler); err != nil {
		fmt.Fprintln(os.Stderr, "kubelet-standin:", err)
		os.Exit(1)
	}
}

// The address of the interface that holds the default route, as the kubelet picks it.
func defaultAddress() (string, error) {
	connection, err := net.Dial("udp", "192.0.2.1:9")
	if err != nil {
		return "", fmt.Errorf("no default route to take the node's address from: %w", err)
	}
	defer connection.Close()
	return connection.LocalAddr().(*net.UDPAddr).IP.String(), nil
}

func parseLabels(text string) map[string]string {
	labels := map[string]string{}
	for _, pair := range strings.Split(text, ",") {
		if key, value, ok := strings.Cut(pair, "="); ok {
			labels[key] = value
		}
	}
	return labels
}

// parseTaints reads --register-with-taints: key=value:Effect or key:Effect, comma-separated.
func parseTaints(text string) ([]corev1.Taint, error) {
	var taints []corev1.Taint
	for _, item := range strings.Split(text, ",") {
		if item == "" {
			continue
		}
		keyValue, effect, ok := strings.Cut(item, ":")
		if !ok {
			return nil, fmt.Errorf("--register-with-taints: %q has no effect", item)
		}
		key, value, _ := strings.Cut(keyValue, "=")
		taints = append(taints, corev1.Taint{Key: key, Value: value, Effect: corev1.TaintEffect(effect)})
	}
	return taints, nil
}

type container struct {
	name    string
	argv    []string
	env     []string
	process *os.Process
	stopped bool
}

type staticPod struct {
	file       string
	hash       string
	pod        *corev1.Pod
	containers []*container
	problem    string
}

type standin struct {
	name, address string
	providerID    string
	taints        []corev1.Taint
	port          int32
	nodeUID       types.UID
	labels        map[string]string
	mu            sync.Mutex
	pods          map[string]*staticPod
	client        kubernetes.Interface
}

// sync starts the pods of new or changed manifests and stops those of removed or changed ones.
func (s *standin) sync(directory string) {
	entries, _ := os.ReadDir(directory)
	seen := map[string]bool{}
	for _, entry := range entries {
		if entry.IsDir() || strings.HasPrefix(entry.Name(), ".") {
			continue
		}
		file := filepath.Join(directory, entry.Name())
		raw, err := os.ReadFile(file)
		if err != nil {
			continue
		}
		seen[file] = true
		sum := sha256.Sum256(raw)
		hash := hex.EncodeToString(sum[:8])
		s.mu.Lock()
		current := s.pods[file]
		s.mu.Unlock()
		if current != nil && current.hash == hash {
			continue
		}
		if current != nil {
			s.stop(current)
		}
		pod := &staticPod{file: file, hash: hash}
		pod.pod = &corev1.Pod{}
		if err := yaml.Unmarshal(raw, pod.pod); err != nil {
			pod.problem = fmt.Sprintf("%s: %v", file, err)
		} else {
			pod.problem = s.start(pod)
		}
		if pod.problem != "" {
			fmt.Fprintln(os.Stderr, "kubelet-standin:", pod.problem)
		}
		s.mu.Lock()
		s.pods[file] = pod
		s.mu.Unlock()
	}
	s.mu.Lock()
	var gone []*staticPod
	for file, pod := range s.pods {
		if !seen[file] {
			gone = append(gone, pod)
			delete(s.pods, file)
		}
	}
	s.mu.Unlock()
	for _, pod := range gone {
		s.stop(pod)
	}
	s.publish()
}

// start runs every container of the pod; a pod with a volume other than a hostPath, or whose
// program is not on PATH, does not start and says why.
func (s *standin) start(pod *staticPod) string {
	hostPaths := map[string]*corev1.HostPathVolumeSource{}
	for _, volume := range pod.pod.Spec.Volumes {
		if volume.HostPath != nil {
			hostPaths[volume.Name] = volume.HostPath
		}
	}
	hosts, err := s.hostsFile(pod.pod)
	if err != nil {
		return fmt.Sprintf("%s: %v", pod.file, err)
	}
	self, err := os.Executable()
	if err != nil {
		return err.Error()
	}
	for _, spec := range pod.pod.Spec.Containers {
		var binds []string
		for _, mount := range spec.VolumeMounts {
			source, ok := hostPaths[mount.Name]
			if !ok {
				return fmt.Sprintf("%s: container %s mounts volume %s, which is not a hostPath", pod.file, spec.Name, mount.Name)
			}
			if err := createHostPath(source); err != nil {
				return fmt.Sprintf("%s: volume %s: %v", pod.file, mount.Name, err)
			}
			if filepath.Clean(source.Path) != filepath.Clean(mount.MountPath) {
				binds = append(binds, source.Path+"="+mount.MountPath)
			}
		}
		if hosts != "" {
			binds = append(binds, hosts+"=/etc/hosts")
		}
		command := spec.Command
		if len(command) == 0 {
			// The image's entrypoint: the program named after the image's repository (no tag, no digest).
			reference, _, _ := strings.Cut(spec.Image, "@")
			repository, _, _ := strings.Cut(reference[strings.LastIndex(reference, "/")+1:], ":")
			command = []string{repository}
		}
		if _, err := exec.LookPath(command[0]); err != nil {
			return fmt.Sprintf("%s: container %s: %v", pod.file, spec.Name, err)
		}
		argv := append(append([]string{}, command...), spec.Args...)
		if len(binds) > 0 {
			wrapped := []string{self, containerExecCommand}
			for _, bind := range binds {
				wrapped = append(wrapped, "--bind", bind)
			}
			argv = append(append(wrapped, "--"), argv...)
		}
		env := os.Environ()
		for _, variable := range spec.Env {
			env = append(env, variable.Name+"="+variable.Value)
		}
		pod.containers = append(pod.containers, &container{name: spec.Name, argv: argv, env: env})
	}
	logs := filepath.Join("/var/log/pods", pod.pod.Namespace+"_"+pod.pod.Name+"-"+s.name)
	_ = os.MkdirAll(logs, 0o755)
	for _, c := range pod.containers {
		go s.keepRunning(c, filepath.Join(logs, c.name+".log"))
	}
	return ""
}

// keepRunning restarts the container's process whenever it ends, as restartPolicy Always does.
func (s *standin) keepRunning(c *container, logPath string) {
	for {
		s.mu.Lock()
		if c.stopped {
			s.mu.Unlock()
			return
		}
		log, _ := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		command := exec.Command(c.argv[0], c.argv[1:]...)
		command.Env = c.env
		command.Stdout, command.Stderr = log, log
		command.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
		err := command.Start()
		if err == nil {
			c.process = command.Process
		}
		s.mu.Unlock()
		if err == nil {
			err = command.Wait()
		}
		if log != nil {
			fmt.Fprintf(log, "kubelet-standin: %s ended: %v\n", c.name, err)
			log.Close()
		}
		time.Sleep(2 * time.Second)
	}
}

func (s *standin) stop(pod *staticPod) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range pod.containers {
		c.stopped = true
		if c.process != nil {
			_ = syscall.Kill(-c.process.Pid, syscall.SIGKILL)
		}
	}
}

// register gets the node's client credentials (TLS bootstrap when needed), then keeps the Node,
// its lease and the mirror pods up to date.
func (s *standin) register(opts options) {
	ctx := context.Background()
	for {
		err := bootstrap.LoadClientCert(ctx, opts.kubeconfig, opts.bootstrapKubeconfig, "/var/lib/kubelet/pki", types.NodeName(s.name))
		if err == nil {
			var config *clientcmdConfig
			if config, err = loadClient(opts.kubeconfig); err == nil {
				s.mu.Lock()
				s.client = config.client
				s.mu.Unlock()
				break
			}
		}
		fmt.Fprintln(os.Stderr, "kubelet-standin: no client credentials yet:", err)
		time.Sleep(2 * time.Second)
	}
	for {
		if err := s.heartbeat(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "kubelet-standin:", err)
		}
		s.publish()
		time.Sleep(5 * time.Second)
	}
}

type clientcmdConfig struct{ client kubernetes.Interface }

func loadClient(path string) (*clientcmdConfig, error) {
	config, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		return nil, err
	}
	client, err := kubernetes.NewForConfig(config)
	if err != nil {
		return nil, err
	}
	return &clientcmdConfig{client: client}, nil
}

func (s *standin) heartbeat(ctx context.Context) error {
	client := s.client
	now := metav1.Now()
	nodes := client.CoreV1().Nodes()
	node, err := nodes.Get(ctx, s.name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		labels := map[string]string{"kubernetes.io/hostname": s.name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64"}
		for key, value := range s.labels {
			labels[key] = value
		}
		node, err = nodes.Create(ctx, &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{Name: s.name, Labels: labels},
			Spec:       corev1.NodeSpec{ProviderID: s.providerID, Taints: s.taints},
		}, metav1.CreateOptions{})
	}
	if err != nil {
		return err
	}
	node.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: s.address}, {Type: corev1.NodeHostName, Address: s.name}}
	// Where the API server reaches this node's kubelet API (exec).
	node.Status.DaemonEndpoints.KubeletEndpoint.Port = s.port
	node.Status.NodeInfo.KubeletVersion = version.Get().GitVersion
	node.Status.NodeInfo.OperatingSystem, node.Status.NodeInfo.Architecture = "linux", "amd64"
	node.Status.Conditions = []corev1.NodeCondition{{
		Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady",
		Message: "kubelet stand-in: static pods run as processes", LastHeartbeatTime: now, LastTransitionTime: now,
	}}
	if _, err := nodes.UpdateStatus(ctx, node, metav1.UpdateOptions{}); err != nil {
		return err
	}
	s.mu.Lock()
	s.nodeUID = node.UID
	s.mu.Unlock()
	leases := client.CoordinationV1().Leases("kube-node-lease")
	lease, err := leases.Get(ctx, s.name, metav1.GetOptions{})
	micro := metav1.NewMicroTime(time.Now())
	if apierrors.IsNotFound(err) {
		_, err = leases.Create(ctx, &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Name: s.name, OwnerReferences: []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: s.name, UID: node.UID}}},
			Spec:       coordinationv1.LeaseSpec{HolderIdentity: &s.name, LeaseDurationSeconds: ptr.To[int32](40), RenewTime: &micro},
		}, metav1.CreateOptions{})
		return err
	}
	if err != nil {
		return err
	}
	lease.Spec.RenewTime = &micro
	_, err = leases.Update(ctx, lease, metav1.UpdateOptions{})
	return err
}

// publish keeps one mirror pod per running static pod, Running, and none for a removed one.
func (s *standin) publish() {
	s.mu.Lock()
	client, nodeUID := s.client, s.nodeUID
	var running []*staticPod
	for _, pod := range s.pods {
		if pod.problem == "" {
			running = append(running, pod)
		}
	}
	s.mu.Unlock()
	if client == nil || nodeUID == "" {
		return
	}
	ctx := context.Background()
	// As the kubelet sees pods: those bound to this node (the node authorizer allows no other read).
	list, err := client.CoreV1().Pods("").List(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=" + s.name})
	if err != nil {
		fmt.Fprintln(os.Stderr, "kubelet-standin: listing this node's pods:", err)
		return
	}
	mirrors := map[string]*corev1.Pod{}
	for i := range list.Items {
		pod := &list.Items[i]
		if _, mirror := pod.Annotations[corev1.MirrorPodAnnotationKey]; mirror {
			mirrors[pod.Namespace+"/"+pod.Name] = pod
		}
	}
	sort.Slice(running, func(i, j int) bool { return running[i].file < running[j].file })
	for _, static := range running {
		name := static.pod.Name + "-" + s.name
		namespace := orDefault(static.pod.Namespace, "default")
		pods := client.CoreV1().Pods(namespace)
		mirror := mirrors[namespace+"/"+name]
		delete(mirrors, namespace+"/"+name)
		if mirror != nil && mirror.Annotations[corev1.MirrorPodAnnotationKey] != static.hash {
			_ = pods.Delete(ctx, name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)})
			mirror = nil
		}
		if mirror == nil {
			pod := static.pod.DeepCopy()
			pod.Name, pod.Namespace, pod.Spec.NodeName = name, namespace, s.name
			if pod.Annotations == nil {
				pod.Annotations = map[string]string{}
			}
			pod.Annotations[corev1.MirrorPodAnnotationKey] = static.hash
			pod.Annotations["kubernetes.io/config.hash"] = static.hash
			pod.Annotations["kubernetes.io/config.source"] = "file"
			// NodeRestriction admits a node's mirror pod only when the Node owns it.
			pod.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: s.name, UID: nodeUID, Controller: ptr.To(true)}}
			pod.Status = corev1.PodStatus{}
			if mirror, err = pods.Create(ctx, pod, metav1.CreateOptions{}); err != nil {
				fmt.Fprintln(os.Stderr, "kubelet-standin: mirror pod", name+":", err)
				continue
			}
		}
		if mirror.Status.Phase != corev1.PodRunning {
			now := metav1.Now()
			mirror.Status = corev1.PodStatus{
				Phase: corev1.PodRunning, HostIP: s.address, PodIP: s.address, StartTime: &now,
				PodIPs:     []corev1.PodIP{{IP: s.address}},
				Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: now}},
			}
			for _, c := range mirror.Spec.Containers {
				mirror.Status.ContainerStatuses = append(mirror.Status.ContainerStatuses, corev1.ContainerStatus{
					Name: c.Name, Image: c.Image, Ready: true, Started: ptr.To(true),
					State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}},
				})
			}
			if _, err := pods.UpdateStatus(ctx, mirror, metav1.UpdateOptions{}); err != nil {
				fmt.Fprintln(os.Stderr, "kubelet-standin: mirror pod status", name+":", err)
			}
		}
	}
	// Mirror pods of static pods that no longer run here.
	for _, pod := range mirrors {
		_ = client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)})
	}
}

// serveStreaming serves the kubelet API's /exec/{namespace}/{pod}/{container} on TLS with a
// self-signed certificate, as a kubelet without serving-certificate bootstrap does.
func (s *standin) serveStreaming(address string) error {
	host, _, _ := net.SplitHostPort(address)
	certPEM, keyPEM, err := certutil.GenerateSelfSignedCertKey(s.name, []net.IP{net.ParseIP(host)}, nil)
	if err != nil {
		return err
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return err
	}
	config := streaming.DefaultConfig
	config.Addr = address
	config.BaseURL = nil
	streamer, err := streaming.NewServer(config, &runtime{standin: s})
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/exec/", func(w http.ResponseWriter, r *http.Request) {
		parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/exec/"), "/")
		if len(parts) == 1 {
			streamer.ServeHTTP(w, r)
			return
		}
		if len(parts) != 3 {
			http.NotFound(w, r)
			return
		}
		query := r.URL.Query()
		response, err := streamer.GetExec(&runtimeapi.ExecRequest{
			ContainerId: strings.Join(parts, "/"),
			Cmd:         query["command"],
			// The parameters the API server sends a kubelet (pkg/registry/core/pod/strategy.go).
			Stdin:  query.Get("input") == "1",
			Stdout: query.Get("output") == "1",
			Stderr: query.Get("error") == "1",
			Tty:    query.Get("tty") == "1",
		})
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		target, _ := http.NewRequest(r.Method, response.Url, nil)
		r.URL.Path = target.URL.Path
		streamer.ServeHTTP(w, r)
	})
	server := &http.Server{Addr: address, Handler: mux, TLSConfig: &tls.Config{Certificates: []tls.Certificate{pair}}}
	listener, err := net.Listen("tcp", address)
	if err != nil {
		return err
	}
	go func() { _ = server.ServeTLS(listener, "", "") }()
	return nil
}

type runtime struct{ standin *standin }

// Exec runs the command as a process of the node, in the container's environment, when the
// container is one of a running static pod's.
func (r *runtime) Exec(_ context.Context, containerID string, cmd []string, in io.Reader, out, errOut io.WriteCloser, _ bool, _ <-chan remotecommand.TerminalSize) error {
	namespace, rest, _ := strings.Cut(containerID, "/")
	podName, containerName, _ := strings.Cut(rest, "/")
	var env []string
	r.standin.mu.Lock()
	for _, pod := range r.standin.pods {
		if pod.problem == "" && orDefault(pod.pod.Namespace, "default") == namespace && pod.pod.Name+"-"+r.standin.name == podName {
			for _, c := range pod.containers {
				if c.name == containerName {
					env = c.env
				}
			}
		}
	}
	r.standin.mu.Unlock()
	if env == nil || len(cmd) == 0 {
		return fmt.Errorf("container %s is not running here", containerID)
	}
	command := exec.Command(cmd[0], cmd[1:]...)
	command.Env = env
	command.Stdin, command.Stdout, command.Stderr = in, out, errOut
	err := command.Run()
	if exited, ok := err.(*exec.ExitError); ok {
		// The exit code reaches `kubectl exec` only as the streaming server's own error type.
		return utilexec.CodeExitError{Err: err, Code: exited.ExitCode()}
	}
	return err
}

func (r *runtime) Attach(context.Context, string, io.Reader, io.WriteCloser, io.WriteCloser, bool, <-chan remotecommand.TerminalSize) error {
	return fmt.Errorf("attach is not supported by the kubelet stand-in")
}

func (r *runtime) PortForward(context.Context, string, int32, io.ReadWriteCloser) error {
	return fmt.Errorf("port-forward is not supported by the kubelet stand-in")
}

const containerExecCommand = "container-exec"

// createHostPath checks a hostPath of a FileOrCreate or DirectoryOrCreate type as the kubelet does
// (pkg/volume/hostpath): a missing file is created in its existing directory, a missing directory
// with its parents; an existing path of the other kind is refused.
func createHostPath(source *corev1.HostPathVolumeSource) error {
	if source.Type == nil {
		return nil
	}
	info, err := os.Stat(source.Path)
	exists := err == nil
	switch *source.Type {
	case corev1.HostPathFileOrCreate:
		if !exists {
			file, err := os.OpenFile(source.Path, os.O_CREATE|os.O_RDONLY, 0o644)
			if err != nil {
				return err
			}
			return file.Close()
		}
		if info.IsDir() {
			return fmt.Errorf("%s is a directory, not a file", source.Path)
		}
	case corev1.HostPathDirectoryOrCreate:
		if !exists {
			return os.MkdirAll(source.Path, 0o755)
		}
		if !info.IsDir() {
			return fmt.Errorf("%s is not a directory", source.Path)
		}
	}
	return nil
}

// hostsFile writes the hosts file of a pod with hostAliases (the node's own, then the aliases, as the
// kubelet writes it for a pod on the host's network) and returns its path; "" for a pod without.
func (s *standin) hostsFile(pod *corev1.Pod) (string, error) {
	if len(pod.Spec.HostAliases) == 0 {
		return "", nil
	}
	base, err := os.ReadFile("/etc/hosts")
	if err != nil {
		return "", err
	}
	var text strings.Builder
	text.Write(base)
	text.WriteString("\n# Entries added by HostAliases.\n")
	for _, alias := range pod.Spec.HostAliases {
		fmt.Fprintf(&text, "%s\t%s\n", alias.IP, strings.Join(alias.Hostnames, "\t"))
	}
	directory := filepath.Join("/var/lib/kubelet/pods", pod.Namespace+"_"+pod.Name)
	if err := os.MkdirAll(directory, 0o755); err != nil {
		return "", err
	}
	path := filepath.Join(directory, "etc-hosts")
	return path, os.WriteFile(path, []byte(text.String()), 0o644)
}

// containerExec runs a container's program with its bind mounts: "--bind source=target"... "--"
// argv. The mounts are made in a mount namespace of the program's own, so the node's paths stay as
// they are; a target that does not exist on the node fails the start (the stand-in starts it again).
func containerExec(arguments []string) {
	goruntime.LockOSThread()
	var binds [][2]string
	for len(arguments) > 1 && arguments[0] == "--bind" {
		source, target, _ := strings.Cut(arguments[1], "=")
		binds = append(binds, [2]string{source, target})
		arguments = arguments[2:]
	}
	if len(arguments) < 2 || arguments[0] != "--" {
		fmt.Fprintln(os.Stderr, "kubelet-standin container-exec: --bind source=target ... -- command [argument...]")
		os.Exit(2)
	}
	argv := arguments[1:]
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "kubelet-standin container-exec:", err)
		os.Exit(1)
	}
	if err := syscall.Unshare(syscall.CLONE_NEWNS); err != nil {
		fail(err)
	}
	if err := syscall.Mount("", "/", "", syscall.MS_REC|syscall.MS_PRIVATE, ""); err != nil {
		fail(err)
	}
	for _, bind := range binds {
		if err := syscall.Mount(bind[0], bind[1], "", syscall.MS_BIND, ""); err != nil {
			fail(fmt.Errorf("bind %s on %s: %w", bind[0], bind[1], err))
		}
	}
	path, err := exec.LookPath(argv[0])
	if err != nil {
		fail(err)
	}
	fail(syscall.Exec(path, argv, os.Environ()))
}
