{{/* The services of SecBot: values key, name (also the image name), the variable that sets its port. */}}
{{- define "secbot.components" -}}
- { key: intake, name: intake, portEnv: INTAKE_PORT, http: true }
- { key: results, name: results, portEnv: RESULTS_PORT, http: true }
- { key: scannerGitleaks, name: scanner-gitleaks, portEnv: SCANNER_PORT, http: false }
- { key: outputDefectdojo, name: output-defectdojo, portEnv: OUTPUT_DEFECTDOJO_PORT, http: false }
- { key: notifierSlack, name: notifier-slack, portEnv: NOTIFIER_SLACK_PORT, http: false }
- { key: outputBuiltin, name: output-builtin, portEnv: OUTPUT_BUILTIN_PORT, http: false }
- { key: notifierGitlab, name: notifier-gitlab, portEnv: NOTIFIER_GITLAB_PORT, http: false }
{{- end -}}

{{- define "secbot.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "secbot.labels" -}}
app.kubernetes.io/part-of: secbot
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "secbot.secretName" -}}
{{- if .Values.secrets.create -}}{{ include "secbot.fullname" . }}{{- else -}}{{ required "secrets.existingSecret is required when secrets.create is false" .Values.secrets.existingSecret }}{{- end -}}
{{- end -}}

{{- define "secbot.image" -}}
{{- $root := index . 0 -}}{{- $name := index . 1 -}}
{{- $repo := $root.Values.image.repository -}}
{{- if $root.Values.image.registry }}{{ $repo = printf "%s/%s" $root.Values.image.registry $repo }}{{ end -}}
{{- printf "%s/%s:%s" $repo $name (default $root.Chart.AppVersion $root.Values.image.tag) -}}
{{- end -}}
