// Command argocd-health evaluates Argo CD health checks with Argo CD's own code, the way
// Argo CD does, so that argocd/health.lua is tested in the engine that runs it.
//
//	argocd-health ARGOCD_CM_YAML FILE...
//
// For each FILE (a resource as YAML or JSON, such as `kubectl get -o json`; "-" reads
// standard input) it prints one JSON line:
//
//	{"file": FILE, "controller": {"status": S, "message": M}, "builtin": {"status": S, "message": M}}
//
//   - controller: what `argocd admin settings resource-overrides health FILE
//     --argocd-cm-path ARGOCD_CM_YAML` answers, by the same code: argocd-cm is read by
//     util/settings' SettingsManager (over a fake clientset), and gitops-engine's
//     health.GetResourceHealth runs the override in util/lua's VM (standard libraries
//     off, as for any argocd-cm override without useOpenLibs).
//   - builtin: what Argo CD's own resource_customizations test (util/lua/health_test.go)
//     does with a built-in health.lua: lua.VM{UseOpenLibs: true}.ExecuteHealthLua with the
//     script found for the resource's group and kind in argocd-cm.
//
// A script that fails, or a resource without a health check, gives
// {"file": FILE, "error": "..."} for that part. The exit status is 0 unless an argument
// cannot be read.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"

	healthutil "github.com/argoproj/gitops-engine/pkg/health"
	log "github.com/sirupsen/logrus"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes/fake"
	"sigs.k8s.io/yaml"

	"github.com/argoproj/argo-cd/v3/common"
	"github.com/argoproj/argo-cd/v3/pkg/apis/application/v1alpha1"
	"github.com/argoproj/argo-cd/v3/util/lua"
	"github.com/argoproj/argo-cd/v3/util/settings"
)

type outcome struct {
	Status  string `json:"status,omitempty"`
	Message string `json:"message,omitempty"`
	Error   string `json:"error,omitempty"`
}

type line struct {
	File       string  `json:"file"`
	Controller outcome `json:"controller"`
	Builtin    outcome `json:"builtin"`
}

func main() {
	log.SetOutput(io.Discard) // the settings manager logs at info level
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: argocd-health ARGOCD_CM_YAML FILE...")
		os.Exit(2)
	}
	overrides, err := loadOverrides(os.Args[1])
	if err != nil {
		fmt.Fprintf(os.Stderr, "argocd-health: reading %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
	out := json.NewEncoder(os.Stdout)
	for _, file := range os.Args[2:] {
		obj, err := readObject(file)
		if err != nil {
			fmt.Fprintf(os.Stderr, "argocd-health: reading %s: %v\n", file, err)
			os.Exit(1)
		}
		if err := out.Encode(line{
			File:       file,
			Controller: controllerHealth(obj, overrides),
			Builtin:    builtinHealth(obj, overrides),
		}); err != nil {
			os.Exit(1)
		}
	}
}

// loadOverrides reads argocd-cm the way `argocd admin settings` does with --argocd-cm-path.
func loadOverrides(path string) (map[string]v1alpha1.ResourceOverride, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var cm corev1.ConfigMap
	if err := yaml.Unmarshal(data, &cm); err != nil {
		return nil, err
	}
	if cm.Name != common.ArgoCDConfigMapName {
		return nil, fmt.Errorf("the ConfigMap is named %q, not %q", cm.Name, common.ArgoCDConfigMapName)
	}
	setSettingsMeta(&cm)
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: common.ArgoCDSecretName},
		Data:       map[string][]byte{"admin.password": []byte("test"), "server.secretkey": []byte("test")},
	}
	setSettingsMeta(secret)
	manager := settings.NewSettingsManager(context.Background(), fake.NewClientset(secret, &cm), "default")
	if err := manager.ResyncInformers(); err != nil {
		return nil, err
	}
	return manager.GetResourceOverrides()
}

func setSettingsMeta(obj metav1.Object) {
	obj.SetNamespace("default")
	labels := obj.GetLabels()
	if labels == nil {
		labels = map[string]string{}
	}
	labels["app.kubernetes.io/part-of"] = "argocd"
	obj.SetLabels(labels)
}

func readObject(file string) (*unstructured.Unstructured, error) {
	var data []byte
	var err error
	if file == "-" {
		data, err = io.ReadAll(os.Stdin)
	} else {
		data, err = os.ReadFile(file)
	}
	if err != nil {
		return nil, err
	}
	obj := map[string]any{}
	if err := yaml.Unmarshal(data, &obj); err != nil {
		return nil, err
	}
	return &unstructured.Unstructured{Object: obj}, nil
}

func controllerHealth(obj *unstructured.Unstructured, overrides map[string]v1alpha1.ResourceOverride) outcome {
	health, err := healthutil.GetResourceHealth(obj, lua.ResourceHealthOverrides(overrides))
	switch {
	case err != nil:
		return outcome{Error: err.Error()}
	case health == nil:
		return outcome{Error: "no health check is configured for " + lua.GetConfigMapKey(obj.GroupVersionKind())}
	}
	return outcome{Status: string(health.Status), Message: health.Message}
}

func builtinHealth(obj *unstructured.Unstructured, overrides map[string]v1alpha1.ResourceOverride) outcome {
	script := overrides[lua.GetConfigMapKey(obj.GroupVersionKind())].HealthLua
	if script == "" {
		return outcome{Error: "no health check is configured for " + lua.GetConfigMapKey(obj.GroupVersionKind())}
	}
	vm := lua.VM{UseOpenLibs: true}
	health, err := vm.ExecuteHealthLua(obj, script)
	if err != nil {
		return outcome{Error: err.Error()}
	}
	return outcome{Status: string(health.Status), Message: health.Message}
}
