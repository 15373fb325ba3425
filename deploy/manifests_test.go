package deploy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	k8sjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// manifestGlobs are the Kubernetes manifests this module checks: k8s/ is
// what `kubectl apply -f deploy/k8s/` applies, templates/ what a user copies
// and fills in first.
var manifestGlobs = []string{"k8s/*.yaml", "k8s/*.yml", "templates/*.yaml", "templates/*.yml"}

// object is one decoded manifest document.
type object struct {
	where string // file and document index, for messages
	file  string
	kind  string
	obj   any // *appsv1.Deployment, *appsv1.StatefulSet, *corev1.Service, *corev1.ConfigMap, *corev1.Secret
}

func (o object) meta() *metav1.ObjectMeta {
	switch v := o.obj.(type) {
	case *appsv1.Deployment:
		return &v.ObjectMeta
	case *appsv1.StatefulSet:
		return &v.ObjectMeta
	case *corev1.Service:
		return &v.ObjectMeta
	case *corev1.ConfigMap:
		return &v.ObjectMeta
	case *corev1.Secret:
		return &v.ObjectMeta
	}
	panic(fmt.Sprintf("unexpected %T", o.obj))
}

// newObject returns the typed object for a document's apiVersion and kind;
// any other kind is an error, so a manifest nobody checks cannot slip in.
func newObject(apiVersion, kind string) (any, error) {
	switch apiVersion + " " + kind {
	case "apps/v1 Deployment":
		return &appsv1.Deployment{}, nil
	case "apps/v1 StatefulSet":
		return &appsv1.StatefulSet{}, nil
	case "v1 Service":
		return &corev1.Service{}, nil
	case "v1 ConfigMap":
		return &corev1.ConfigMap{}, nil
	case "v1 Secret":
		return &corev1.Secret{}, nil
	}
	return nil, fmt.Errorf("unknown kind %q (apiVersion %q): this test knows apps/v1 Deployment and StatefulSet, v1 Service, ConfigMap and Secret; teach it the new kind before adding one", kind, apiVersion)
}

var docSeparator = regexp.MustCompile(`(?m)^---[ \t]*(#.*)?$`)

// splitDocuments splits a multi-document YAML stream on its "---" lines.
func splitDocuments(data []byte) [][]byte {
	var docs [][]byte
	prev := 0
	for _, loc := range docSeparator.FindAllIndex(data, -1) {
		docs = append(docs, data[prev:loc[0]])
		prev = loc[1]
	}
	return append(docs, data[prev:])
}

// decodeStrict decodes one YAML document into the Kubernetes type for its
// kind. It returns (nil, nil) for a document with nothing in it (comments
// only). Unknown fields are rejected twice over: by encoding/json's
// DisallowUnknownFields, and by sigs.k8s.io/json's UnmarshalStrict — the
// decoder the API server itself uses — which also rejects a field spelt in
// the wrong case (encoding/json matches names case-insensitively) and a
// field given twice.
func decodeStrict(doc []byte) (any, string, error) {
	js, err := yaml.YAMLToJSONStrict(doc) // strict: duplicate keys are errors
	if err != nil {
		return nil, "", fmt.Errorf("YAML: %w", err)
	}
	if t := bytes.TrimSpace(js); len(t) == 0 || string(t) == "null" {
		return nil, "", nil
	}
	var tm metav1.TypeMeta
	if err := json.Unmarshal(js, &tm); err != nil {
		return nil, "", fmt.Errorf("not a Kubernetes object: %w", err)
	}
	if tm.APIVersion == "" || tm.Kind == "" {
		return nil, "", errors.New("document has no apiVersion or kind")
	}
	obj, err := newObject(tm.APIVersion, tm.Kind)
	if err != nil {
		return nil, tm.Kind, err
	}
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	if err := dec.Decode(obj); err != nil {
		return nil, tm.Kind, fmt.Errorf("%s: %w", tm.Kind, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, tm.Kind, fmt.Errorf("%s: trailing data after the object", tm.Kind)
	}
	again, _ := newObject(tm.APIVersion, tm.Kind)
	strictErrs, err := k8sjson.UnmarshalStrict(js, again)
	if err != nil {
		return nil, tm.Kind, fmt.Errorf("%s: %w", tm.Kind, err)
	}
	if len(strictErrs) > 0 {
		return nil, tm.Kind, fmt.Errorf("%s: %w", tm.Kind, errors.Join(strictErrs...))
	}
	return obj, tm.Kind, nil
}

// loadManifests decodes every document of every manifest file, failing the
// test on any that does not decode strictly.
func loadManifests(t *testing.T) []object {
	t.Helper()
	var files []string
	for _, g := range manifestGlobs {
		m, err := filepath.Glob(g)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	sort.Strings(files)
	if len(files) == 0 {
		t.Fatal("no manifests found under k8s/ or templates/")
	}
	var objs []object
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for i, doc := range splitDocuments(data) {
			where := fmt.Sprintf("%s (document %d)", f, i+1)
			obj, kind, err := decodeStrict(doc)
			if err != nil {
				t.Errorf("%s: %v", where, err)
				continue
			}
			if obj == nil {
				continue
			}
			n++
			objs = append(objs, object{where: where, file: f, kind: kind, obj: obj})
		}
		if n == 0 {
			t.Errorf("%s: no Kubernetes object in it", f)
		}
	}
	return objs
}

func TestManifestsDecodeStrictly(t *testing.T) {
	objs := loadManifests(t)
	kinds := map[string]int{}
	for _, o := range objs {
		kinds[o.kind]++
	}
	t.Logf("decoded %d objects: %v", len(objs), kinds)
	// The set issue 7 asks for: driver Deployment + Service, workers
	// StatefulSet + headless Service, serve Deployment + Service, the
	// ConfigMap and the Secret template.
	for kind, want := range map[string]int{"Deployment": 2, "StatefulSet": 1, "Service": 3, "ConfigMap": 1, "Secret": 1} {
		if kinds[kind] < want {
			t.Errorf("%d %s objects, want at least %d", kinds[kind], kind, want)
		}
	}
}

// TestStrictDecoderRejects makes sure the checks above have teeth: each of
// these documents must fail to decode.
func TestStrictDecoderRejects(t *testing.T) {
	const good = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: x
spec:
  selector:
    matchLabels: {app: x}
  template:
    metadata:
      labels: {app: x}
    spec:
      containers:
        - name: x
          image: x:1
          ports:
            - containerPort: 80
`
	if _, _, err := decodeStrict([]byte(good)); err != nil {
		t.Fatalf("the well-formed Deployment does not decode: %v", err)
	}
	bad := map[string]string{
		"unknown field":       strings.Replace(good, "  selector:", "  replica: 2\n  selector:", 1),
		"field in wrong case": strings.Replace(good, "containerPort", "containerport", 1),
		"duplicate key":       strings.Replace(good, "  name: x\n", "  name: x\n  name: y\n", 1),
		"wrong type":          strings.Replace(good, "containerPort: 80", "containerPort: eighty", 1),
		"bad quantity":        strings.Replace(good, "          image: x:1\n", "          image: x:1\n          resources: {limits: {cpu: lots}}\n", 1),
		"unknown kind":        strings.Replace(good, "kind: Deployment", "kind: Deploymnet", 1),
		"unknown apiVersion":  strings.Replace(good, "apps/v1", "apps/v1beta9", 1),
		"no kind":             strings.Replace(good, "kind: Deployment\n", "", 1),
	}
	for name, doc := range bad {
		if _, _, err := decodeStrict([]byte(doc)); err == nil {
			t.Errorf("%s: decoded without error", name)
		} else {
			t.Logf("%s: rejected: %v", name, err)
		}
	}
	if docs := splitDocuments([]byte("a: 1\n---\nb: 2\n--- # c\nc: 3\n")); len(docs) != 3 {
		t.Errorf("splitDocuments: %d documents, want 3", len(docs))
	}
}

// workload is a Deployment or StatefulSet, seen through what they share.
type workload struct {
	object
	selector *metav1.LabelSelector
	template *corev1.PodTemplateSpec
}

func workloads(objs []object) []workload {
	var ws []workload
	for _, o := range objs {
		switch v := o.obj.(type) {
		case *appsv1.Deployment:
			ws = append(ws, workload{o, v.Spec.Selector, &v.Spec.Template})
		case *appsv1.StatefulSet:
			ws = append(ws, workload{o, v.Spec.Selector, &v.Spec.Template})
		}
	}
	return ws
}

func containersOf(spec *corev1.PodSpec) []*corev1.Container {
	var cs []*corev1.Container
	for i := range spec.InitContainers {
		cs = append(cs, &spec.InitContainers[i])
	}
	for i := range spec.Containers {
		cs = append(cs, &spec.Containers[i])
	}
	return cs
}

func TestManifestNames(t *testing.T) {
	seen := map[string]string{}
	for _, o := range loadManifests(t) {
		m := o.meta()
		if m.Name == "" {
			t.Errorf("%s: %s has no metadata.name", o.where, o.kind)
			continue
		}
		for _, msg := range validation.IsDNS1123Subdomain(m.Name) {
			t.Errorf("%s: name %q: %s", o.where, m.Name, msg)
		}
		if o.kind == "Service" {
			for _, msg := range validation.IsDNS1035Label(m.Name) {
				t.Errorf("%s: Service name %q: %s", o.where, m.Name, msg)
			}
		}
		if m.Namespace != "" {
			t.Errorf("%s: %s/%s sets namespace %q; leave it to kubectl -n", o.where, o.kind, m.Name, m.Namespace)
		}
		key := o.kind + "/" + m.Name
		if prev, dup := seen[key]; dup {
			t.Errorf("%s: %s is also defined in %s", o.where, key, prev)
		}
		seen[key] = o.where
		checkLabels(t, o.where+" metadata.labels", m.Labels)
	}
}

func checkLabels(t *testing.T, where string, l map[string]string) {
	t.Helper()
	for k, v := range l {
		for _, msg := range validation.IsQualifiedName(k) {
			t.Errorf("%s: label key %q: %s", where, k, msg)
		}
		for _, msg := range validation.IsValidLabelValue(v) {
			t.Errorf("%s: label %q value %q: %s", where, k, v, msg)
		}
	}
}

func TestWorkloads(t *testing.T) {
	objs := loadManifests(t)
	ws := workloads(objs)
	if len(ws) == 0 {
		t.Fatal("no Deployment or StatefulSet")
	}
	for _, w := range ws {
		where := w.where + " " + w.kind + "/" + w.meta().Name
		// The selector must select the pods the template makes, or the
		// API server refuses the workload ("selector does not match
		// template labels").
		if w.selector == nil || (len(w.selector.MatchLabels) == 0 && len(w.selector.MatchExpressions) == 0) {
			t.Errorf("%s: empty spec.selector", where)
		} else if sel, err := metav1.LabelSelectorAsSelector(w.selector); err != nil {
			t.Errorf("%s: spec.selector: %v", where, err)
		} else if !sel.Matches(labels.Set(w.template.Labels)) {
			t.Errorf("%s: spec.selector %s does not match the pod template's labels %v", where, sel, w.template.Labels)
		}
		checkLabels(t, where+" template labels", w.template.Labels)
		checkPodSpec(t, where, objs, &w.template.Spec)
	}
	for _, o := range objs {
		if ss, ok := o.obj.(*appsv1.StatefulSet); ok {
			checkStatefulSetService(t, o.where, objs, ss)
		}
	}
}

// checkStatefulSetService: a StatefulSet's serviceName must name a headless
// Service that selects its pods, or its pods get no DNS records.
func checkStatefulSetService(t *testing.T, where string, objs []object, ss *appsv1.StatefulSet) {
	t.Helper()
	if ss.Spec.ServiceName == "" {
		t.Errorf("%s: StatefulSet/%s has no serviceName", where, ss.Name)
		return
	}
	for _, o := range objs {
		svc, ok := o.obj.(*corev1.Service)
		if !ok || svc.Name != ss.Spec.ServiceName {
			continue
		}
		if svc.Spec.ClusterIP != corev1.ClusterIPNone {
			t.Errorf("%s: StatefulSet/%s's Service %s is not headless (clusterIP: None)", where, ss.Name, svc.Name)
		}
		if !labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(ss.Spec.Template.Labels)) {
			t.Errorf("%s: StatefulSet/%s's Service %s does not select its pods", where, ss.Name, svc.Name)
		}
		return
	}
	t.Errorf("%s: StatefulSet/%s: serviceName %q names no Service in the manifests", where, ss.Name, ss.Spec.ServiceName)
}

var varRef = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)`)

func checkPodSpec(t *testing.T, where string, objs []object, spec *corev1.PodSpec) {
	t.Helper()
	volumes := map[string]bool{}
	for _, v := range spec.Volumes {
		volumes[v.Name] = true
	}
	containerNames := map[string]*corev1.Container{}
	for _, c := range containersOf(spec) {
		containerNames[c.Name] = c
	}
	if len(spec.Containers) == 0 {
		t.Errorf("%s: no containers", where)
	}
	psc := spec.SecurityContext
	for _, c := range containersOf(spec) {
		cw := fmt.Sprintf("%s container %q", where, c.Name)
		for _, msg := range validation.IsDNS1123Label(c.Name) {
			t.Errorf("%s: name: %s", cw, msg)
		}
		if strings.TrimSpace(c.Image) == "" {
			t.Errorf("%s: no image", cw)
		}

		// Ports: valid, named ports unique.
		portNames := map[string]int32{}
		portNums := map[int32]bool{}
		for _, p := range c.Ports {
			for _, msg := range validation.IsValidPortNum(int(p.ContainerPort)) {
				t.Errorf("%s: port %d: %s", cw, p.ContainerPort, msg)
			}
			portNums[p.ContainerPort] = true
			if p.Name != "" {
				for _, msg := range validation.IsValidPortName(p.Name) {
					t.Errorf("%s: port name %q: %s", cw, p.Name, msg)
				}
				if _, dup := portNames[p.Name]; dup {
					t.Errorf("%s: port name %q used twice", cw, p.Name)
				}
				portNames[p.Name] = p.ContainerPort
			}
		}

		// Probes: both present, pointing at declared ports.
		isInit := slices.ContainsFunc(spec.InitContainers, func(ic corev1.Container) bool { return ic.Name == c.Name })
		if !isInit {
			if c.ReadinessProbe == nil {
				t.Errorf("%s: no readinessProbe", cw)
			}
			if c.LivenessProbe == nil {
				t.Errorf("%s: no livenessProbe", cw)
			}
		}
		for name, p := range map[string]*corev1.Probe{"readinessProbe": c.ReadinessProbe, "livenessProbe": c.LivenessProbe, "startupProbe": c.StartupProbe} {
			if p == nil {
				continue
			}
			pw := cw + " " + name
			switch {
			case p.HTTPGet != nil:
				checkPort(t, pw+" httpGet", p.HTTPGet.Port, portNames, portNums)
				if !strings.HasPrefix(p.HTTPGet.Path, "/") {
					t.Errorf("%s: httpGet path %q does not start with /", pw, p.HTTPGet.Path)
				}
			case p.TCPSocket != nil:
				checkPort(t, pw+" tcpSocket", p.TCPSocket.Port, portNames, portNums)
			case p.GRPC != nil:
				if !portNums[p.GRPC.Port] {
					t.Errorf("%s: grpc port %d is not a declared containerPort", pw, p.GRPC.Port)
				}
			case p.Exec != nil:
				if len(p.Exec.Command) == 0 {
					t.Errorf("%s: exec with no command", pw)
				}
			default:
				t.Errorf("%s: no handler (httpGet, tcpSocket, grpc or exec)", pw)
			}
		}

		// Resources: requests and limits for cpu and memory, requests <= limits.
		for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			req, hasReq := c.Resources.Requests[r]
			lim, hasLim := c.Resources.Limits[r]
			if !hasReq {
				t.Errorf("%s: no %s request", cw, r)
			}
			if !hasLim {
				t.Errorf("%s: no %s limit", cw, r)
			}
			if hasReq && hasLim && req.Cmp(lim) > 0 {
				t.Errorf("%s: %s request %s exceeds its limit %s", cw, r, req.String(), lim.String())
			}
		}

		// Non-root, no privilege escalation, no capabilities.
		nonRoot := psc != nil && psc.RunAsNonRoot != nil && *psc.RunAsNonRoot
		uid := int64(-1)
		if psc != nil && psc.RunAsUser != nil {
			uid = *psc.RunAsUser
		}
		sc := c.SecurityContext
		if sc != nil && sc.RunAsNonRoot != nil {
			nonRoot = *sc.RunAsNonRoot
		}
		if sc != nil && sc.RunAsUser != nil {
			uid = *sc.RunAsUser
		}
		if !nonRoot {
			t.Errorf("%s: runAsNonRoot is not true (pod or container securityContext)", cw)
		}
		if uid == 0 {
			t.Errorf("%s: runAsUser is 0 (root)", cw)
		}
		if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			t.Errorf("%s: securityContext.allowPrivilegeEscalation is not false", cw)
		}
		if sc == nil || sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") {
			t.Errorf("%s: securityContext.capabilities does not drop ALL", cw)
		}
		if sc != nil && sc.Privileged != nil && *sc.Privileged {
			t.Errorf("%s: privileged", cw)
		}

		// Volume mounts name declared volumes.
		for _, m := range c.VolumeMounts {
			if !volumes[m.Name] {
				t.Errorf("%s: volumeMount %q names no volume of the pod", cw, m.Name)
			}
		}

		// Environment: valid names; ConfigMap/Secret keys exist; $(VAR)
		// references resolve (Kubernetes leaves an unresolved one as the
		// literal text, silently).
		defined := map[string]bool{}
		for _, ef := range c.EnvFrom {
			switch {
			case ef.ConfigMapRef != nil:
				if findConfigMap(objs, ef.ConfigMapRef.Name) == nil && !isTrue(ef.ConfigMapRef.Optional) {
					t.Errorf("%s: envFrom ConfigMap %q is not in the manifests", cw, ef.ConfigMapRef.Name)
				}
			case ef.SecretRef != nil:
				if findSecret(objs, ef.SecretRef.Name) == nil && !isTrue(ef.SecretRef.Optional) {
					t.Errorf("%s: envFrom Secret %q is not in the manifests", cw, ef.SecretRef.Name)
				}
			}
		}
		for _, e := range c.Env {
			ew := fmt.Sprintf("%s env %s", cw, e.Name)
			for _, msg := range validation.IsEnvVarName(e.Name) {
				t.Errorf("%s: %s", ew, msg)
			}
			if defined[e.Name] {
				t.Errorf("%s: defined twice", ew)
			}
			if e.ValueFrom != nil && e.Value != "" {
				t.Errorf("%s: both value and valueFrom", ew)
			}
			for _, m := range varRef.FindAllStringSubmatch(e.Value, -1) {
				if !defined[m[1]] {
					t.Errorf("%s: value refers to $(%s), which is not defined above it in env", ew, m[1])
				}
			}
			if vf := e.ValueFrom; vf != nil {
				switch {
				case vf.ConfigMapKeyRef != nil:
					r := vf.ConfigMapKeyRef
					cm := findConfigMap(objs, r.Name)
					switch {
					case cm == nil && !isTrue(r.Optional):
						t.Errorf("%s: ConfigMap %q is not in the manifests", ew, r.Name)
					case cm != nil && !configMapHas(cm, r.Key) && !isTrue(r.Optional):
						t.Errorf("%s: ConfigMap %q has no key %q", ew, r.Name, r.Key)
					}
				case vf.SecretKeyRef != nil:
					r := vf.SecretKeyRef
					s := findSecret(objs, r.Name)
					switch {
					case s == nil && !isTrue(r.Optional):
						t.Errorf("%s: Secret %q is not in the manifests (templates/ included)", ew, r.Name)
					case s != nil && !secretHas(s, r.Key) && !isTrue(r.Optional):
						t.Errorf("%s: Secret %q has no key %q", ew, r.Name, r.Key)
					}
				case vf.ResourceFieldRef != nil:
					r := vf.ResourceFieldRef
					target := c
					if r.ContainerName != "" {
						target = containerNames[r.ContainerName]
					}
					if target == nil {
						t.Errorf("%s: resourceFieldRef names container %q, not in the pod", ew, r.ContainerName)
						break
					}
					kind, res, _ := strings.Cut(r.Resource, ".")
					list := target.Resources.Limits
					if kind == "requests" {
						list = target.Resources.Requests
					}
					if _, ok := list[corev1.ResourceName(res)]; !ok {
						t.Errorf("%s: resourceFieldRef %s, which container %q does not set", ew, r.Resource, target.Name)
					}
				case vf.FieldRef != nil:
					if vf.FieldRef.FieldPath == "" {
						t.Errorf("%s: fieldRef with no fieldPath", ew)
					}
				}
			}
			defined[e.Name] = true
		}
		for _, arg := range slices.Concat(c.Command, c.Args) {
			for _, m := range varRef.FindAllStringSubmatch(arg, -1) {
				if !defined[m[1]] {
					t.Errorf("%s: argument %q refers to $(%s), which is not in its env", cw, arg, m[1])
				}
			}
		}
	}
}

func checkPort(t *testing.T, where string, p intstr.IntOrString, names map[string]int32, nums map[int32]bool) {
	t.Helper()
	if p.Type == intstr.String {
		if _, ok := names[p.StrVal]; !ok {
			t.Errorf("%s: port %q is not a declared container port name", where, p.StrVal)
		}
		return
	}
	if !nums[p.IntVal] {
		t.Errorf("%s: port %d is not a declared containerPort", where, p.IntVal)
	}
}

func isTrue(b *bool) bool { return b != nil && *b }

func findConfigMap(objs []object, name string) *corev1.ConfigMap {
	for _, o := range objs {
		if cm, ok := o.obj.(*corev1.ConfigMap); ok && cm.Name == name {
			return cm
		}
	}
	return nil
}

func findSecret(objs []object, name string) *corev1.Secret {
	for _, o := range objs {
		if s, ok := o.obj.(*corev1.Secret); ok && s.Name == name {
			return s
		}
	}
	return nil
}

func configMapHas(cm *corev1.ConfigMap, key string) bool {
	_, a := cm.Data[key]
	_, b := cm.BinaryData[key]
	return a || b
}

func secretHas(s *corev1.Secret, key string) bool {
	_, a := s.Data[key]
	_, b := s.StringData[key]
	return a || b
}

func TestServices(t *testing.T) {
	objs := loadManifests(t)
	ws := workloads(objs)
	for _, o := range objs {
		svc, ok := o.obj.(*corev1.Service)
		if !ok {
			continue
		}
		where := o.where + " Service/" + svc.Name
		if len(svc.Spec.Selector) == 0 {
			t.Errorf("%s: no selector", where)
			continue
		}
		checkLabels(t, where+" selector", svc.Spec.Selector)
		sel := labels.SelectorFromSet(svc.Spec.Selector)
		var matched []workload
		for _, w := range ws {
			if sel.Matches(labels.Set(w.template.Labels)) {
				matched = append(matched, w)
			}
		}
		if len(matched) == 0 {
			t.Errorf("%s: selector %s matches no workload's pod labels", where, sel)
			continue
		}
		if len(svc.Spec.Ports) == 0 {
			t.Errorf("%s: no ports", where)
		}
		for _, p := range svc.Spec.Ports {
			if len(svc.Spec.Ports) > 1 && p.Name == "" {
				t.Errorf("%s: port %d: a Service with several ports must name each", where, p.Port)
			}
			target := p.TargetPort
			if target.Type == intstr.Int && target.IntVal == 0 {
				target = intstr.FromInt32(p.Port)
			}
			// Every pod the Service selects must expose the target port.
			for _, w := range matched {
				if !podExposes(&w.template.Spec, target) {
					t.Errorf("%s: port %d targets %s, which %s/%s's containers do not declare", where, p.Port, target.String(), w.kind, w.meta().Name)
				}
			}
		}
	}
}

func podExposes(spec *corev1.PodSpec, port intstr.IntOrString) bool {
	for _, c := range spec.Containers {
		for _, cp := range c.Ports {
			if (port.Type == intstr.String && cp.Name == port.StrVal) || (port.Type == intstr.Int && cp.ContainerPort == port.IntVal) {
				return true
			}
		}
	}
	return false
}

// TestConfigMaps: keys valid.
func TestConfigMaps(t *testing.T) {
	for _, o := range loadManifests(t) {
		cm, ok := o.obj.(*corev1.ConfigMap)
		if !ok {
			continue
		}
		for k := range cm.Data {
			for _, msg := range validation.IsConfigMapKey(k) {
				t.Errorf("%s: ConfigMap/%s key %q: %s", o.where, cm.Name, k, msg)
			}
		}
	}
}

// TestSecretsAreTemplates: no Secret sits in k8s/ (what `kubectl apply -f
// deploy/k8s/` applies), and every value in a Secret template is a marked
// placeholder, so nobody commits a real credential or applies a fake one by
// accident.
func TestSecretsAreTemplates(t *testing.T) {
	n := 0
	for _, o := range loadManifests(t) {
		s, ok := o.obj.(*corev1.Secret)
		if !ok {
			continue
		}
		n++
		if !strings.HasPrefix(filepath.ToSlash(o.file), "templates/") {
			t.Errorf("%s: Secret/%s is outside templates/; Secrets here are templates only", o.where, s.Name)
		}
		if len(s.Data) > 0 {
			t.Errorf("%s: Secret/%s uses data (base64); use stringData with REPLACE-ME placeholders", o.where, s.Name)
		}
		for k, v := range s.StringData {
			for _, msg := range validation.IsConfigMapKey(k) {
				t.Errorf("%s: Secret/%s key %q: %s", o.where, s.Name, k, msg)
			}
			for _, line := range strings.Split(strings.TrimSpace(v), "\n") {
				if !strings.Contains(line, "REPLACE-ME") {
					t.Errorf("%s: Secret/%s key %q: value line %q is not a REPLACE-ME placeholder", o.where, s.Name, k, line)
				}
			}
		}
	}
	if n == 0 {
		t.Error("no Secret template")
	}
}

// TestFlintWorkloads pins what issue 7 asks of the Flint containers: flint
// serve listens beyond loopback and is probed on the KServe V2 health
// routes; the driver is ready when its job API answers GET /healthz and
// alive while its worker port accepts connections; workers get TCP probes
// on their port.
func TestFlintWorkloads(t *testing.T) {
	seen := map[string]bool{}
	for _, w := range workloads(loadManifests(t)) {
		for _, c := range w.template.Spec.Containers {
			if len(c.Args) == 0 {
				t.Errorf("%s: container %q has no args (the flint subcommand)", w.where, c.Name)
				continue
			}
			cw := fmt.Sprintf("%s container %q (flint %s)", w.where, c.Name, c.Args[0])
			seen[c.Args[0]] = true
			switch c.Args[0] {
			case "serve":
				addr := flagValue(c.Args, "--addr")
				if addr == "" || strings.HasPrefix(addr, "127.") || strings.HasPrefix(addr, "localhost") {
					t.Errorf("%s: --addr %q; flint serve's default is 127.0.0.1:8080, which neither probes nor the Service reach", cw, addr)
				}
				wantHTTP(t, cw+" readinessProbe", c.ReadinessProbe, "/v2/health/ready")
				wantHTTP(t, cw+" livenessProbe", c.LivenessProbe, "/v2/health/live")
				checkListenPort(t, cw, addr, c.Ports)
			case "driver", "worker":
				probes := map[string]*corev1.Probe{"readinessProbe": c.ReadinessProbe, "livenessProbe": c.LivenessProbe}
				if c.Args[0] == "driver" {
					wantHTTP(t, cw+" readinessProbe", c.ReadinessProbe, "/healthz")
					delete(probes, "readinessProbe")
					httpAddr := flagValue(c.Args, "--http")
					if httpAddr == "" || strings.HasPrefix(httpAddr, "127.") || strings.HasPrefix(httpAddr, "localhost") {
						t.Errorf("%s: --http %q is not reachable by probes and the Service", cw, httpAddr)
					}
					checkListenPort(t, cw, httpAddr, c.Ports)
				}
				for name, p := range probes {
					if p == nil || p.TCPSocket == nil {
						t.Errorf("%s: %s is not a tcpSocket probe", cw, name)
					}
				}
				checkListenPort(t, cw, flagValue(c.Args, "--listen"), c.Ports)
				if c.Args[0] == "worker" {
					if flagValue(c.Args, "--driver") == "" {
						t.Errorf("%s: no --driver", cw)
					}
					// The driver dials the worker back: a wildcard listen
					// address is not dialable, so --advertise must say
					// where, on the port it listens on.
					adv, listen := flagValue(c.Args, "--advertise"), flagValue(c.Args, "--listen")
					host, port, _ := strings.Cut(adv, ":")
					_, lport, _ := strings.Cut(listen, ":")
					if host == "" || host == "0.0.0.0" || port != lport {
						t.Errorf("%s: --advertise %q is not a dialable HOST:PORT on the --listen port %q", cw, adv, lport)
					}
				}
				if !slices.ContainsFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == "FLINT_CLUSTER_SECRET" }) {
					t.Errorf("%s: no FLINT_CLUSTER_SECRET in env", cw)
				}
			default:
				t.Errorf("%s: unexpected subcommand %q", cw, c.Args[0])
			}
		}
	}
	for _, sub := range []string{"serve", "driver", "worker"} {
		if !seen[sub] {
			t.Errorf("no workload runs flint %s", sub)
		}
	}
}

func flagValue(args []string, flag string) string {
	for i, a := range args {
		if a == flag && i+1 < len(args) {
			return args[i+1]
		}
		if v, ok := strings.CutPrefix(a, flag+"="); ok {
			return v
		}
	}
	return ""
}

func wantHTTP(t *testing.T, where string, p *corev1.Probe, path string) {
	t.Helper()
	if p == nil || p.HTTPGet == nil {
		t.Errorf("%s: not an httpGet probe", where)
		return
	}
	if p.HTTPGet.Path != path {
		t.Errorf("%s: path %q, want %q", where, p.HTTPGet.Path, path)
	}
}

// checkListenPort: the port the process listens on (from its flag) is a
// declared containerPort, so probes and Services by name reach it.
func checkListenPort(t *testing.T, where, addr string, ports []corev1.ContainerPort) {
	t.Helper()
	i := strings.LastIndex(addr, ":")
	if i < 0 {
		t.Errorf("%s: listen address %q has no port", where, addr)
		return
	}
	port := addr[i+1:]
	for _, p := range ports {
		if fmt.Sprint(p.ContainerPort) == port {
			return
		}
	}
	t.Errorf("%s: listens on port %s, which is not a declared containerPort", where, port)
}
