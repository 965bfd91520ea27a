package deploy_test

import (
	"bytes"
	"fmt"
	"net"
	"os/exec"
	"path"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"

	"github.com/gitops-status/gitops-status/deploy/internal/tooltest"
	"github.com/gitops-status/gitops-status/deploy/ociimage"
	tools "github.com/gitops-status/gitops-status/internal/tooltest"
)

// rendered is what kustomize made of one overlay, decoded strictly.
type rendered struct {
	deployment *appsv1.Deployment
	service    *corev1.Service
	accounts   []*corev1.ServiceAccount
	secrets    map[string]*corev1.Secret
	pvcs       map[string]*corev1.PersistentVolumeClaim
	pdbs       []*policyv1.PodDisruptionBudget
}

// kustomize renders dir with `kubectl kustomize`, or the standalone
// `kustomize build` where kubectl is missing (.ci/run installs it then).
func kustomize(t *testing.T, dir string) []byte {
	t.Helper()
	var cmd *exec.Cmd
	if _, err := exec.LookPath("kubectl"); err == nil {
		cmd = exec.Command("kubectl", "kustomize", dir)
	} else {
		cmd = exec.Command(tools.Need(t, "kustomize"), "build", dir)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v\n%s", cmd, err, stderr.String())
	}
	return out
}

// render renders an overlay and decodes every object into its k8s.io/api
// type, refusing unknown fields and unexpected kinds.
func render(t *testing.T, dir string) rendered {
	t.Helper()
	r := rendered{secrets: map[string]*corev1.Secret{}, pvcs: map[string]*corev1.PersistentVolumeClaim{}}
	for _, doc := range bytes.Split(kustomize(t, dir), []byte("\n---\n")) {
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		var u unstructured.Unstructured
		if err := yaml.Unmarshal(doc, &u.Object); err != nil {
			t.Fatalf("%s: %v\n%s", dir, err, doc)
		}
		gvk := u.GroupVersionKind()
		var obj any
		switch gvk.GroupVersion().String() + " " + gvk.Kind {
		case "apps/v1 Deployment":
			if r.deployment != nil {
				t.Fatalf("%s: two Deployments", dir)
			}
			r.deployment = new(appsv1.Deployment)
			obj = r.deployment
		case "v1 Service":
			r.service = new(corev1.Service)
			obj = r.service
		case "v1 ServiceAccount":
			sa := new(corev1.ServiceAccount)
			r.accounts = append(r.accounts, sa)
			obj = sa
		case "v1 Secret":
			s := new(corev1.Secret)
			r.secrets[u.GetName()] = s
			obj = s
		case "v1 PersistentVolumeClaim":
			p := new(corev1.PersistentVolumeClaim)
			r.pvcs[u.GetName()] = p
			obj = p
		case "policy/v1 PodDisruptionBudget":
			p := new(policyv1.PodDisruptionBudget)
			r.pdbs = append(r.pdbs, p)
			obj = p
		default:
			t.Fatalf("%s: unexpected object %s %s", dir, gvk, u.GetName())
		}
		if err := yaml.UnmarshalStrict(doc, obj); err != nil {
			t.Fatalf("%s: %s %s does not decode strictly: %v", dir, gvk.Kind, u.GetName(), err)
		}
	}
	if r.deployment == nil || r.service == nil || len(r.accounts) != 1 {
		t.Fatalf("%s: want a Deployment, a Service and a ServiceAccount", dir)
	}
	return r
}

// TestKubernetesOverlays renders both overlays and checks what the cluster
// would run against the real binary's flags, its port and its probes.
func TestKubernetesOverlays(t *testing.T) {
	flags := tooltest.Flags(t, tooltest.Binary(t), "serve")
	t.Run("sqlite", func(t *testing.T) {
		r := render(t, "kubernetes/overlays/sqlite")
		checkCommon(t, r, flags)
		d := r.deployment
		if *d.Spec.Replicas != 1 || d.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType || d.Spec.Strategy.RollingUpdate != nil {
			t.Errorf("replicas %d, strategy %+v; SQLite needs 1 replica and Recreate", *d.Spec.Replicas, d.Spec.Strategy)
		}
		data := volume(t, d, "data")
		if data.PersistentVolumeClaim == nil || data.EmptyDir != nil {
			t.Fatalf("the data volume is %+v, want only a PersistentVolumeClaim", data.VolumeSource)
		}
		if _, ok := r.pvcs[data.PersistentVolumeClaim.ClaimName]; !ok {
			t.Errorf("PersistentVolumeClaim %s is not in the overlay", data.PersistentVolumeClaim.ClaimName)
		}
		if env := envOf(d, "GITOPS_STATUS_DATABASE_URL"); env != nil {
			t.Errorf("the SQLite overlay sets GITOPS_STATUS_DATABASE_URL")
		}
	})
	t.Run("postgres", func(t *testing.T) {
		r := render(t, "kubernetes/overlays/postgres")
		checkCommon(t, r, flags)
		d := r.deployment
		if *d.Spec.Replicas != 3 || d.Spec.Strategy.Type != appsv1.RollingUpdateDeploymentStrategyType {
			t.Errorf("replicas %d, strategy %s; want 3 and RollingUpdate", *d.Spec.Replicas, d.Spec.Strategy.Type)
		}
		if len(r.pvcs) != 0 {
			t.Errorf("PersistentVolumeClaims %v in the PostgreSQL overlay", r.pvcs)
		}
		if len(r.pdbs) != 1 || !matches(r.pdbs[0].Spec.Selector.MatchLabels, d.Spec.Template.Labels) ||
			(r.pdbs[0].Spec.MaxUnavailable == nil && r.pdbs[0].Spec.MinAvailable == nil) {
			t.Errorf("want one PodDisruptionBudget with a budget, selecting the pods; got %+v", r.pdbs)
		}
		tsc := d.Spec.Template.Spec.TopologySpreadConstraints
		if len(tsc) == 0 {
			t.Fatal("no topologySpreadConstraints")
		}
		for _, c := range tsc {
			if c.LabelSelector == nil || !matches(c.LabelSelector.MatchLabels, d.Spec.Template.Labels) {
				t.Errorf("topology spread on %s does not select the pods", c.TopologyKey)
			}
		}
		env := envOf(d, "GITOPS_STATUS_DATABASE_URL")
		if env == nil || env.ValueFrom == nil || env.ValueFrom.SecretKeyRef == nil {
			t.Fatalf("GITOPS_STATUS_DATABASE_URL is %+v, want it from a Secret", env)
		}
		ref := env.ValueFrom.SecretKeyRef
		s, ok := r.secrets[ref.Name]
		if !ok {
			t.Fatalf("Secret %s is not in the overlay", ref.Name)
		}
		if url := string(s.Data[ref.Key]); !strings.HasPrefix(url, "postgres://") {
			t.Errorf("Secret %s key %s = %q, want a postgres:// URL", ref.Name, ref.Key, url)
		}
	})
}

// checkCommon checks what both overlays share.
func checkCommon(t *testing.T, r rendered, flags map[string]bool) {
	t.Helper()
	d := r.deployment
	pod := d.Spec.Template.Spec
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(pod.Containers))
	}
	c := pod.Containers[0]
	if !strings.Contains(c.Image, "gitops-status:") {
		t.Errorf("image %q, want a tagged gitops-status image", c.Image)
	}
	if !matches(d.Spec.Selector.MatchLabels, d.Spec.Template.Labels) {
		t.Errorf("selector %v does not select the pod labels %v", d.Spec.Selector.MatchLabels, d.Spec.Template.Labels)
	}

	// The command line and environment are the binary's own flags.
	if len(c.Args) == 0 || c.Args[0] != "serve" || len(c.Command) != 0 {
		t.Errorf("command %q args %q; want the image's entrypoint with serve", c.Command, c.Args)
	}
	for _, a := range c.Args[1:] {
		name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || !flags[name] {
			t.Errorf("argument %q is not a flag of gitops-status serve", a)
		}
	}
	for _, e := range c.Env {
		if e.Name == "GOMEMLIMIT" {
			continue // the Go runtime's own
		}
		if tooltest.FlagOfEnv(flags, e.Name) == "" {
			t.Errorf("env %s is not the variable of any flag of gitops-status serve", e.Name)
		}
	}

	// The port serve listens on is the one declared, probed and served.
	addr := envOf(d, "GITOPS_STATUS_ADDR")
	if addr == nil {
		t.Fatal("GITOPS_STATUS_ADDR is not set")
	}
	_, port, err := net.SplitHostPort(addr.Value)
	if err != nil {
		t.Fatalf("GITOPS_STATUS_ADDR=%q: %v", addr.Value, err)
	}
	if len(c.Ports) != 1 || fmt.Sprint(c.Ports[0].ContainerPort) != port || c.Ports[0].Name != "http" ||
		fmt.Sprintf("%d/%s", c.Ports[0].ContainerPort, strings.ToLower(string(c.Ports[0].Protocol))) != ociimage.Port {
		t.Errorf("container ports %+v, want http %s (GITOPS_STATUS_ADDR, the image's port)", c.Ports, ociimage.Port)
	}
	for _, p := range []struct {
		name  string
		probe *corev1.Probe
		path  string
	}{{"liveness", c.LivenessProbe, "/health"}, {"readiness", c.ReadinessProbe, "/ready"}, {"startup", c.StartupProbe, "/health"}} {
		if p.probe == nil || p.probe.HTTPGet == nil {
			t.Errorf("no HTTP %s probe", p.name)
			continue
		}
		if p.probe.HTTPGet.Path != p.path || p.probe.HTTPGet.Port != intstr.FromString("http") {
			t.Errorf("%s probe %s on port %s, want %s on http", p.name, p.probe.HTTPGet.Path, p.probe.HTTPGet.Port.String(), p.path)
		}
	}
	svc := r.service.Spec
	if len(svc.Ports) != 1 || svc.Ports[0].TargetPort != intstr.FromString("http") || !matches(svc.Selector, d.Spec.Template.Labels) {
		t.Errorf("Service ports %+v selector %v; want the pods' http port", svc.Ports, svc.Selector)
	}
	for what, ann := range map[string]map[string]string{"pod": d.Spec.Template.Annotations, "Service": r.service.Annotations} {
		if ann["prometheus.io/scrape"] != "true" || ann["prometheus.io/port"] != port || ann["prometheus.io/path"] != "/metrics" {
			t.Errorf("%s annotations %v; want Prometheus to scrape /metrics on %s", what, ann, port)
		}
	}

	// Locked down.
	psc, sc := pod.SecurityContext, c.SecurityContext
	switch {
	case psc == nil || sc == nil:
		t.Fatal("no security context")
	case psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser != ociimage.UID:
		t.Errorf("pod runs as %v (non-root %v), want uid %d", psc.RunAsUser, psc.RunAsNonRoot, ociimage.UID)
	case psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault:
		t.Errorf("seccomp %+v, want RuntimeDefault", psc.SeccompProfile)
	case sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem:
		t.Error("the root filesystem is writable")
	case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
		t.Error("privilege escalation is allowed")
	case sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) > 0:
		t.Errorf("capabilities %+v, want ALL dropped", sc.Capabilities)
	case pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken:
		t.Error("the service account token is mounted")
	case pod.ServiceAccountName != r.accounts[0].Name:
		t.Errorf("service account %q, the overlay has %q", pod.ServiceAccountName, r.accounts[0].Name)
	}
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
		t.Errorf("resources %+v; want CPU and memory requests and a memory limit", c.Resources)
	}

	// With a read-only root, every directory serve writes is a volume: the
	// data dir and /tmp. The tokens file comes from a Secret of the overlay.
	dataDir := envOf(d, "GITOPS_STATUS_DATA_DIR")
	if dataDir == nil || dataDir.Value != ociimage.DataDir {
		t.Errorf("GITOPS_STATUS_DATA_DIR %+v, want %s", dataDir, ociimage.DataDir)
	}
	mounts := map[string]corev1.VolumeMount{}
	for _, m := range c.VolumeMounts {
		mounts[m.MountPath] = m
		volume(t, d, m.Name)
	}
	for _, dir := range []string{ociimage.DataDir, "/tmp"} {
		if m, ok := mounts[dir]; !ok || m.ReadOnly {
			t.Errorf("%s is not a writable volume", dir)
		}
	}
	tokens := envOf(d, "GITOPS_STATUS_TOKENS_FILE")
	if tokens == nil {
		t.Fatal("GITOPS_STATUS_TOKENS_FILE is not set")
	}
	m, ok := mounts[path.Dir(tokens.Value)]
	if !ok {
		t.Fatalf("nothing is mounted at %s for GITOPS_STATUS_TOKENS_FILE=%s", path.Dir(tokens.Value), tokens.Value)
	}
	v := volume(t, d, m.Name)
	if v.Secret == nil {
		t.Fatalf("the tokens file is not from a Secret: %+v", v.VolumeSource)
	}
	s, ok := r.secrets[v.Secret.SecretName]
	if !ok {
		t.Fatalf("Secret %s is not in the overlay", v.Secret.SecretName)
	}
	var file struct {
		Tokens []map[string]any `json:"tokens"`
	}
	if err := yaml.Unmarshal(s.Data[path.Base(tokens.Value)], &file); err != nil || len(file.Tokens) == 0 {
		t.Errorf("Secret %s key %s is not a tokens file: %v", s.Name, path.Base(tokens.Value), err)
	}
}

func volume(t *testing.T, d *appsv1.Deployment, name string) corev1.Volume {
	t.Helper()
	for _, v := range d.Spec.Template.Spec.Volumes {
		if v.Name == name {
			return v
		}
	}
	t.Fatalf("no volume %q", name)
	return corev1.Volume{}
}

func envOf(d *appsv1.Deployment, name string) *corev1.EnvVar {
	for i, e := range d.Spec.Template.Spec.Containers[0].Env {
		if e.Name == name {
			return &d.Spec.Template.Spec.Containers[0].Env[i]
		}
	}
	return nil
}

// matches reports whether selector selects labels.
func matches(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}
