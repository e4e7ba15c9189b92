{{/* Chart name, truncated to the 63 characters of a label value. */}}
{{- define "cxf-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Prefix of every resource name: <release>-<chart>, or <release> if it contains the chart name. */}}
{{- define "cxf-operator.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* Labels of every resource. */}}
{{- define "cxf-operator.labels" -}}
{{ include "cxf-operator.commonLabels" . }}
{{ include "cxf-operator.selectorLabels" . }}
{{- end }}

{{/* Labels of every object but the selector's. */}}
{{- define "cxf-operator.commonLabels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: cxf-operator
{{- end }}

{{/* Labels of the `helm test` pod: not the operator's selector, so no Service, PDB,
NetworkPolicy or Deployment takes it for an operator pod. */}}
{{- define "cxf-operator.testLabels" -}}
{{ include "cxf-operator.commonLabels" . }}
app.kubernetes.io/name: {{ include "cxf-operator.name" . }}-test
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: test
{{- end }}

{{/* Labels selecting the operator's pods. */}}
{{- define "cxf-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "cxf-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* The operator's ServiceAccount. */}}
{{- define "cxf-operator.serviceAccountName" -}}
{{- default (include "cxf-operator.fullname" .) .Values.serviceAccount.name }}
{{- end }}

{{/* The leader-election Lease. */}}
{{- define "cxf-operator.leaseName" -}}
{{- default (include "cxf-operator.fullname" .) .Values.leaderElection.leaseName }}
{{- end }}

{{/* The ValidatingWebhookConfiguration (cluster-scoped: the release namespace is part of its name). */}}
{{- define "cxf-operator.webhookConfigName" -}}
{{- printf "%s-%s" (include "cxf-operator.fullname" .) .Release.Namespace | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The Secret holding the webhook's serving certificate. */}}
{{- define "cxf-operator.credentialsHashSecret" -}}
{{- printf "%s-credentials-hash-key" (include "cxf-operator.fullname" .) }}
{{- end }}

{{- define "cxf-operator.webhookCertSecret" -}}
{{- printf "%s-webhook-cert" (include "cxf-operator.fullname" .) }}
{{- end }}

{{/* The image reference: repository, then @digest or :tag (default appVersion). */}}
{{- define "cxf-operator.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* The restricted container securityContext (Pod Security Standards, restricted). */}}
{{- define "cxf-operator.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop:
    - ALL
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* The restricted pod securityContext. 65532 is the distroless nonroot user. */}}
{{- define "cxf-operator.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* RBAC rules of the operator on the resources it watches, in a namespace or cluster-wide. */}}
{{- define "cxf-operator.watchRules" -}}
- apiGroups: ["cxf.dev"]
  resources: ["frameworkconnections", "listenerregistrations", "gatekeepingrules"]
  verbs: ["get", "list", "watch", "patch", "update"]
- apiGroups: ["cxf.dev"]
  resources: ["frameworkconnections/status", "listenerregistrations/status", "gatekeepingrules/status"]
  verbs: ["patch", "update"]
- apiGroups: ["cxf.dev"]
  resources: ["frameworkconnections/finalizers", "listenerregistrations/finalizers", "gatekeepingrules/finalizers"]
  verbs: ["update"]
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get", "list", "watch"]
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create", "patch"]
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
{{- end }}
