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

{{- define "secbot.image" -}}
{{- $root := index . 0 -}}{{- $name := index . 1 -}}
{{- $repo := $root.Values.image.repository -}}
{{- if $root.Values.image.registry }}{{ $repo = printf "%s/%s" $root.Values.image.registry $repo }}{{ end -}}
{{- printf "%s/%s:%s" $repo $name (default $root.Chart.AppVersion $root.Values.image.tag) -}}
{{- end -}}

{{/*
The secrets of each service: environment variable -> key under .Values.secrets. Each service's Secret holds
only these (and its NATS password): the scanner, which reads hostile repositories, never sees the Slack,
DefectDojo or API tokens. results' SECBOT_POSTGRES_DSN comes from postgresql.* (see secret.yaml).
*/}}
{{- define "secbot.secretKeys" -}}
intake: { GITLAB_CONFIGS: gitlabConfigs }
results: { SECBOT_API_TOKENS: apiTokens, SECBOT_API_TOKEN: apiToken, SECBOT_READ_TOKEN: readToken, SECBOT_LINK_SIGNING_KEY: linkSigningKey }
scanner-gitleaks: { GITLAB_CONFIGS: gitlabConfigs, SCANNER_FINGERPRINT_KEY: scannerFingerprintKey }
output-builtin: {}
output-defectdojo: { DEFECTDOJO__TOKEN: defectdojoToken }
notifier-slack: { SLACK_TOKEN: slackToken, SECBOT_LINK_SIGNING_KEY: linkSigningKey }
notifier-gitlab: { GITLAB_CONFIGS: gitlabConfigs, SECBOT_LINK_SIGNING_KEY: linkSigningKey }
{{- end -}}

{{/* The Secret of one service (list root name valuesKey): <fullname>-<name>, or <service>.existingSecret. */}}
{{- define "secbot.serviceSecretName" -}}
{{- $root := index . 0 -}}{{- $name := index . 1 -}}{{- $key := index . 2 -}}
{{- $v := index $root.Values $key | default dict -}}
{{- default (printf "%s-%s" (include "secbot.fullname" $root) $name) $v.existingSecret -}}
{{- end -}}

{{/*
The NATS password of a user (list root user secretName): secrets.natsPasswords.<user>, else the one already
in the user's Secret (kept across upgrades), else a new random one. Passwords start with a letter: the NATS
server reads them from its environment into its configuration.
*/}}
{{- define "secbot.natsPassword" -}}
{{- $root := index . 0 -}}{{- $user := index . 1 -}}{{- $secret := index . 2 -}}
{{- $given := index ($root.Values.secrets.natsPasswords | default dict) $user | default "" | toString -}}
{{- if $given -}}
{{- if not (regexMatch "^[A-Za-z][A-Za-z0-9_-]{15,}$" $given) }}{{ fail (printf "secrets.natsPasswords.%s: 16 or more letters, digits, _ and -, starting with a letter" $user) }}{{ end -}}
{{- $given -}}
{{- else -}}
{{- $existing := lookup "v1" "Secret" $root.Release.Namespace $secret -}}
{{- if and $existing $existing.data (hasKey $existing.data "SECBOT_NATS_PASSWORD") -}}
{{- index $existing.data "SECBOT_NATS_PASSWORD" | b64dec -}}
{{- else -}}
{{- printf "p%s" (randAlphaNum 40) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The Secret of one service (list root component), from secrets.* and its NATS password. */}}
{{- define "secbot.serviceSecret" -}}
{{- $root := index . 0 -}}{{- $c := index . 1 -}}
{{- $keys := index (include "secbot.secretKeys" $root | fromYaml) $c.name -}}
{{- $name := include "secbot.serviceSecretName" (list $root $c.name $c.key) -}}
apiVersion: v1
kind: Secret
metadata:
  name: {{ $name }}
  labels:
    {{- include "secbot.labels" $root | nindent 4 }}
    app.kubernetes.io/name: {{ $c.name }}
type: Opaque
stringData:
  SECBOT_NATS_PASSWORD: {{ include "secbot.natsPassword" (list $root $c.name $name) | quote }}
  {{- if and (has $c.name (list "intake" "scanner-gitleaks" "notifier-gitlab")) }}
  GITLAB_CONFIGS: {{ required "secrets.gitlabConfigs is required (JSON list of GitLab instances)" $root.Values.secrets.gitlabConfigs | quote }}
  {{- end }}
  {{- if and (eq $c.name "results") $root.Values.postgresql.dsn (not $root.Values.postgresql.existingSecret) }}
  SECBOT_POSTGRES_DSN: {{ $root.Values.postgresql.dsn | quote }}
  {{- end }}
  {{- range $env, $valuesKey := $keys }}
  {{- if ne $env "GITLAB_CONFIGS" }}
  {{- with index $root.Values.secrets $valuesKey }}
  {{ $env }}: {{ . | quote }}
  {{- end }}
  {{- end }}
  {{- end }}
{{- end -}}
