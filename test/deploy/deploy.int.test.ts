// Keeps deploy/ honest without a Docker engine or a Kubernetes cluster:
//  - the production bundle of every service (scripts/build-bundles.ts, what the images copy) starts from its own
//    folder against the running NATS and PostgreSQL and answers /readyz;
//  - the Helm chart passes `helm lint --strict`, renders, decodes strictly into the Kubernetes API types
//    (k8s-manifest-check) and has the structure SecBot needs (probes, resources, secrets only in Secrets, ...);
//  - deploy/docker-compose.yml loads with compose-go (what `docker compose config` runs);
//  - every Dockerfile parses and lints clean (dockerfile-utils) and follows this project's rules.
// The tools come from scripts/install-deploy-tools.sh (run here when missing).
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import {
  TEST_POSTGRES_DSN,
  testNats,
  type TestNats,
} from '@secbot/testing';
import { DEV_SECRET_VALUES, isSecretSettingName } from '../../packages/service-kit/src/dev-secrets.ts';
import { parseEnvFile } from '../../packages/service-kit/src/env-files.ts';
import { defaultNatsLayout, NATS_USERS, natsAuthorizationConfig, natsPasswordVariable } from '../../packages/service-kit/src/nats-auth.ts';

const root = new URL('../../', import.meta.url).pathname;
const bin = (name: string) => join(root, '.tools/bin', name);
const services = readdirSync(join(root, 'services')).filter((s) => existsSync(join(root, 'services', s, 'package.json'))).sort();
const ports: Record<string, { env: string; port: number }> = {
  intake: { env: 'INTAKE_PORT', port: 5000 },
  results: { env: 'RESULTS_PORT', port: 5001 },
  'scanner-gitleaks': { env: 'SCANNER_PORT', port: 5002 },
  'output-defectdojo': { env: 'OUTPUT_DEFECTDOJO_PORT', port: 5003 },
  'notifier-slack': { env: 'NOTIFIER_SLACK_PORT', port: 5004 },
  'output-builtin': { env: 'OUTPUT_BUILTIN_PORT', port: 5005 },
  'notifier-gitlab': { env: 'NOTIFIER_GITLAB_PORT', port: 5006 },
};
const TEST_PG = TEST_POSTGRES_DSN;

/** Every secret value the committed .env.dev ships (and the guard's list): none may reach a deployment. */
const devSecrets: string[] = (() => {
  const values = new Set<string>(DEV_SECRET_VALUES);
  for (const [name, value] of Object.entries(parseEnvFile(readFileSync(join(root, '.env.dev'), 'utf8')))) {
    if (!isSecretSettingName(name) || !value) continue;
    if (name === 'GITLAB_CONFIGS') for (const g of JSON.parse(value) as Record<string, string>[]) for (const k of ['webhook_secret_token', 'auth_token']) values.add(g[k]!);
    else values.add(value);
  }
  return [...values];
})();
const devSecretsIn = (text: string) => devSecrets.filter((v) => text.includes(v));
/** What each service's Secret may hold (besides SECBOT_NATS_PASSWORD): the scanner never a Slack, DefectDojo or API token. */
const ownSecrets: Record<string, string[]> = {
  intake: ['GITLAB_CONFIGS'],
  results: ['SECBOT_API_TOKENS', 'SECBOT_LINK_SIGNING_KEY', 'SECBOT_POSTGRES_DSN', 'SECBOT_READ_TOKEN'],
  'scanner-gitleaks': ['GITLAB_CONFIGS', 'SCANNER_FINGERPRINT_KEY'],
  'output-builtin': [],
  'output-defectdojo': ['DEFECTDOJO__TOKEN'],
  'notifier-slack': ['SECBOT_LINK_SIGNING_KEY', 'SLACK_TOKEN'],
  'notifier-gitlab': ['GITLAB_CONFIGS', 'SECBOT_LINK_SIGNING_KEY'],
};

function run(cmd: string, args: string[], opts: { cwd?: string; input?: string } = {}): { code: number; out: string } {
  const r = spawnSync(cmd, args, { cwd: opts.cwd ?? root, input: opts.input, encoding: 'utf8', maxBuffer: 64 << 20, timeout: 120_000 });
  return { code: r.status ?? -1, out: `${r.stdout ?? ''}${r.stderr ?? ''}` };
}

beforeAll(() => {
  const tools = ['helm', 'compose-spec', 'k8s-manifest-check'].map(bin);
  if (!tools.every(existsSync) || !existsSync(join(root, '.tools/npm/node_modules/dockerfile-utils'))) {
    execFileSync(join(root, 'scripts/install-deploy-tools.sh'), { cwd: root, stdio: 'inherit', timeout: 900_000 });
  }
}, 900_000);

// ---------------------------------------------------------------------------------------------------------
describe('production bundles (scripts/build-bundles.ts)', () => {
  const out = join(root, '.data/deploy-test/bundles');
  let nats: TestNats;
  const schema = `deploy_${Date.now().toString(36)}`;
  const procs: ChildProcess[] = [];

  beforeAll(async () => {
    rmSync(out, { recursive: true, force: true });
    const r = run(process.execPath, [join(root, 'scripts/build-bundles.ts'), '--out', out]);
    if (r.code !== 0) throw new Error(`build-bundles failed:\n${r.out}`);
    nats = await testNats('deploy');
    const db = new URL(TEST_PG).pathname.slice(1);
    const admin = TEST_PG.replace(/\/[^/?]*(\?|$)/, '/postgres$1');
    const exists = run('psql', [admin, '-tAc', `SELECT 1 FROM pg_database WHERE datname = '${db}'`]);
    if (!exists.out.includes('1')) run('psql', [admin, '-c', `CREATE DATABASE "${db}"`]);
  }, 120_000);

  afterAll(async () => {
    for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    if (nats) {
      // The notifiers' KV buckets and the scanner's object store are streams named after the event stream.
      const names: string[] = [];
      for await (const info of nats.jsm.streams.list()) if (info.config.name.includes(nats.stream.name)) names.push(info.config.name);
      for (const name of names) if (name !== nats.stream.name) await nats.jsm.streams.delete(name).catch(() => undefined);
      await nats.cleanup();
    }
    run('psql', [TEST_PG, '-c', `DROP SCHEMA IF EXISTS "${schema}" CASCADE`]);
    rmSync(out, { recursive: true, force: true });
    rmSync(join(root, '.data/deploy-test/scanner'), { recursive: true, force: true });
  });

  it('builds one folder per service with compiled JavaScript and no TypeScript of ours', () => {
    expect(readdirSync(out).sort()).toEqual(services);
    for (const s of services) {
      const dir = join(out, s);
      expect(existsSync(join(dir, 'src/main.js')), s).toBe(true);
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { exports: Record<string, string>; devDependencies?: unknown };
      expect(pkg.exports['.']).toMatch(/\.js$/);
      expect(pkg.devDependencies).toBeUndefined();
      expect(existsSync(join(dir, 'node_modules/@secbot/testing')), `${s} carries dev-only @secbot/testing`).toBe(false);
      expect(existsSync(join(dir, 'node_modules/vitest')), `${s} carries vitest`).toBe(false);
      expect(existsSync(join(dir, 'node_modules/typescript')), `${s} carries typescript`).toBe(false);
      const kit = JSON.parse(readFileSync(join(dir, 'node_modules/@secbot/service-kit/package.json'), 'utf8')) as { exports: Record<string, string> };
      expect(kit.exports['.']).toBe('./src/index.js');
    }
    expect(readdirSync(join(out, 'results/migrations')).every((f) => f.endsWith('.js'))).toBe(true);
    const typescript = readdirSync(out, { recursive: true, encoding: 'utf8' }).filter((f) => /\.(ts|mts|cts)$/.test(f));
    expect(typescript.slice(0, 10), 'TypeScript files in the bundles').toEqual([]);
  });

  it('starts every bundle from its own folder against NATS and PostgreSQL, ready on /readyz, and stops on SIGTERM', async () => {
    const gitlab = JSON.stringify([{ host: 'http://example.com/', webhook_secret_token: 'deploy-test-webhook-secret', auth_token: 'deploy-test-token', prefix: 'GIT_LOCAL', insecure: true }]);
    const scannerData = join(root, '.data/deploy-test/scanner');
    mkdirSync(scannerData, { recursive: true });
    const started = await Promise.all(
      services.map(async (s) => {
        const port = await freePort();
        const entry = ports[s];
        if (!entry) throw new Error(`no port variable known for service ${s}: add it to this test and to deploy/`);
        const env: Record<string, string> = {
          PATH: `${dirname(process.execPath)}:${dirname(bin('gitleaks'))}:/usr/bin:/bin`,
          HOME: process.env['HOME'] ?? '/tmp',
          NODE_ENV: 'production',
          SECBOT_ENV_DIR: join(out, s), // no .env files there: only what is given here
          SECBOT_NATS_URL: process.env['SECBOT_TEST_NATS_URL'] ?? 'nats://127.0.0.1:4222',
          SECBOT_STREAM: nats.stream.name,
          SECBOT_SUBJECT_PREFIX: nats.stream.prefix,
          SECBOT_STREAM_RETENTION_DAYS: '1',
          SECBOT_STREAM_DUPLICATE_WINDOW_SECONDS: '120',
          SECBOT_CONFIG: join(root, 'config.yml'),
          SECBOT_LISTEN_HOST: '127.0.0.1',
          LOG_LEVEL: 'warn',
          GITLAB_CONFIGS: gitlab,
          SECBOT_POSTGRES_DSN: TEST_PG,
          SECBOT_DB_DRIVER: 'postgresql',
          SECBOT_DB_SCHEMA: schema,
          SECBOT_API_TOKEN: 'deploy-test-api-token',
          SCANNER_DATA_DIR: scannerData,
          SCANNER_FINGERPRINT_KEY: 'deploy-test-fingerprint-key-0123456789',
          GITLEAKS_BIN: bin('gitleaks'),
          DEFECTDOJO__URL: 'http://127.0.0.1:9',
          DEFECTDOJO__TOKEN: 'deploy-test-dojo-token',
          DEFECTDOJO__USER: 'secbot',
          DEFECTDOJO__USER_ID: '1',
          SLACK_TOKEN: 'xoxb-deploy-test',
          OUTPUT_DEFECTDOJO_REEVALUATE_SECONDS: '0',
          [entry.env]: String(port),
        };
        let log = '';
        const proc = spawn(process.execPath, ['src/main.js'], { cwd: join(out, s), env, stdio: ['ignore', 'pipe', 'pipe'] });
        procs.push(proc);
        proc.stdout.on('data', (b: Buffer) => (log += b.toString()));
        proc.stderr.on('data', (b: Buffer) => (log += b.toString()));
        const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
        return { s, port, proc, exited, log: () => log };
      }),
    );

    const problems: string[] = [];
    await Promise.all(
      started.map(async ({ s, port, exited, log }) => {
        let gone = false;
        void exited.then(() => (gone = true));
        const deadline = Date.now() + 45_000;
        while (Date.now() < deadline && !gone) {
          try {
            const res = await fetch(`http://127.0.0.1:${port}/readyz`);
            if (res.status === 200) return;
          } catch {
            /* not listening yet */
          }
          await new Promise((r) => setTimeout(r, 200));
        }
        problems.push(`${s} ${gone ? 'exited' : 'was not ready'} (port ${port}):\n${log().slice(-1500)}`);
      }),
    );
    expect(problems, problems.join('\n\n')).toEqual([]);

    for (const { s, port } of started) {
      const health = await fetch(`http://127.0.0.1:${port}/healthz`);
      expect(health.status, s).toBe(200);
    }
    const codes = await Promise.all(
      started.map(async ({ s, proc, exited }) => {
        proc.kill('SIGTERM');
        const code = await Promise.race([exited, new Promise<string>((r) => setTimeout(() => r('timeout'), 15_000))]);
        return `${s}:${String(code)}`;
      }),
    );
    expect(codes).toEqual(started.map(({ s }) => `${s}:0`));
  }, 120_000);
});

// ---------------------------------------------------------------------------------------------------------
describe('Helm chart deploy/helm/secbot', () => {
  const chart = join(root, 'deploy/helm/secbot');
  const secretValues = {
    gitlabConfigs: '[{"host":"https://gitlab.example.com/","webhook_secret_token":"SENTINEL-webhook-secret","auth_token":"SENTINEL-auth-token","prefix":"GIT"}]',
    apiTokens: '{"appsec":"SENTINEL-api-tokens"}',
    readToken: 'SENTINEL-read-token',
    linkSigningKey: 'SENTINEL-link-signing-key',
    defectdojoToken: 'SENTINEL-dojo-token',
    slackToken: 'SENTINEL-slack-token',
    scannerFingerprintKey: 'SENTINEL-fingerprint-key',
  };
  const valuesFile = join(root, '.data/deploy-test/values.json');
  mkdirSync(dirname(valuesFile), { recursive: true });
  writeFileSync(
    valuesFile,
    JSON.stringify({ secrets: secretValues, postgresql: { dsn: 'postgresql://secbot:SENTINEL-pg-password@db.example.com:5432/secbot' } }),
  );
  const baseArgs = ['-f', valuesFile];
  type Obj = { kind: string; apiVersion: string; metadata: { name: string }; [k: string]: unknown };
  const render = (extra: string[] = []): { code: number; out: string; objects: Obj[] } => {
    const r = run(bin('helm'), ['template', 'secbot', chart, '--namespace', 'secbot', '--kube-version', '1.31.0', ...baseArgs, ...extra]);
    const objects = r.code === 0 ? parseAllDocuments(r.out).map((d) => d.toJS() as Obj).filter(Boolean) : [];
    return { ...r, objects };
  };

  it('passes helm lint --strict', () => {
    const r = run(bin('helm'), ['lint', '--strict', chart, '--kube-version', '1.31.0', ...baseArgs]);
    expect(r.code, r.out).toBe(0);
  });

  it('renders manifests that decode strictly into the Kubernetes API types (default values and ingress/existing-secret variants)', () => {
    for (const extra of [
      [],
      ['--set', 'ingress.enabled=true', '--set', 'scannerGitleaks.autoscaling.enabled=false', '--set', 'scannerGitleaks.persistence.enabled=false'],
      ['--set', 'secrets.create=false', '--set', 'postgresql.existingSecret=secbot-pg', '--set', 'postgresql.dsn=', '--set', 'scannerGitleaks.existingSecret=my-scanner'],
      ['--set', 'nats.url=tls://nats.secbot.svc:4222', '--set', 'nats.tls.caSecret=nats-ca', '--set', 'networkPolicy.ingressFrom[0].namespaceSelector.matchLabels.name=ingress', '--set', 'networkPolicy.metricsFrom[0].namespaceSelector.matchLabels.name=monitoring'],
      ['--set', 'networkPolicy.enabled=false'],
    ]) {
      const r = render(extra);
      expect(r.code, r.out).toBe(0);
      const check = run(bin('k8s-manifest-check'), ['-'], { input: r.out });
      expect(check.code, check.out).toBe(0);
      expect(check.out).toMatch(/, 0 invalid/);
    }
  });

  it('has one Deployment per service with /healthz and /readyz probes, resources and a non-root, read-only container', () => {
    const { objects } = render();
    const deployments = objects.filter((o) => o.kind === 'Deployment') as unknown as Deployment[];
    expect(deployments.map((d) => d.metadata.name.replace(/^secbot-/, '')).sort()).toEqual(services);
    for (const d of deployments) {
      const pod = d.spec.template.spec;
      const c = pod.containers[0]!;
      expect(c.livenessProbe.httpGet.path, d.metadata.name).toBe('/healthz');
      expect(c.readinessProbe.httpGet.path, d.metadata.name).toBe('/readyz');
      expect(c.resources.requests, d.metadata.name).toBeTruthy();
      expect(c.resources.limits?.memory, d.metadata.name).toBeTruthy();
      expect(pod.securityContext.runAsNonRoot).toBe(true);
      expect(c.securityContext.readOnlyRootFilesystem).toBe(true);
      const name = d.metadata.name.replace(/^secbot-/, '');
      const portEnv = c.env.find((e) => e.name === ports[name]!.env);
      expect(Number(portEnv?.value), name).toBe(c.ports[0]!.containerPort);
      expect(c.image).toMatch(new RegExp(`/${name}:`));
      // config.yml is mounted where SECBOT_CONFIG points.
      const mount = c.volumeMounts.find((m) => m.name === 'config');
      expect(mount?.mountPath).toBe('/etc/secbot');
      expect(pod.volumes.find((v) => v.name === 'config')?.configMap?.name).toBe('secbot-config');
    }
    const envMap = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === 'secbot-env') as unknown as { data: Record<string, string> };
    expect(envMap.data['SECBOT_CONFIG']).toBe('/etc/secbot/config.yml');
    expect(envMap.data['SECBOT_LISTEN_HOST']).toBe('0.0.0.0');
  });

  it('gives each service a Secret of its own: the scanner gets no Slack, DefectDojo or API token; no token in a ConfigMap', () => {
    const { objects, out } = render();
    const secrets = new Map(
      (objects.filter((o) => o.kind === 'Secret') as unknown as { metadata: { name: string }; stringData: Record<string, string> }[]).map((o) => [o.metadata.name, o.stringData]),
    );
    expect([...secrets.keys()].sort()).toEqual([...services.map((s) => `secbot-${s}`), 'secbot-ops'].sort());
    for (const s of services) expect(Object.keys(secrets.get(`secbot-${s}`)!).sort(), s).toEqual([...ownSecrets[s]!, 'SECBOT_NATS_PASSWORD'].sort());
    // The scanner reads hostile repositories: its Secret, and every secret its pod references, carry none of the others' tokens.
    const scannerSecret = JSON.stringify(secrets.get('secbot-scanner-gitleaks'));
    for (const token of ['SENTINEL-slack-token', 'SENTINEL-dojo-token', 'SENTINEL-api-tokens', 'SENTINEL-read-token', 'SENTINEL-link-signing-key', 'SENTINEL-pg-password']) {
      expect(scannerSecret, token).not.toContain(token);
    }
    for (const d of objects.filter((o) => o.kind === 'Deployment') as unknown as Deployment[]) {
      const name = d.metadata.name.replace(/^secbot-/, '');
      const c = d.spec.template.spec.containers[0]!;
      const referenced = [
        ...(c.envFrom ?? []).flatMap((e) => (e.secretRef ? [e.secretRef.name] : [])),
        ...c.env.flatMap((e) => (e.valueFrom?.secretKeyRef ? [e.valueFrom.secretKeyRef.name] : [])),
      ];
      expect(referenced.filter((n) => n !== 'secbot-pg'), name).toEqual([`secbot-${name}`]);
      if (name === 'scanner-gitleaks') {
        const env = JSON.stringify([c.env, c.envFrom]);
        expect(env).not.toMatch(/SLACK|DEFECTDOJO|API_TOKEN|READ_TOKEN|secbot-(results|notifier|output)/);
      }
    }
    for (const o of objects.filter((x) => x.kind !== 'Secret')) expect(JSON.stringify(o), `${o.kind} ${o.metadata.name}`).not.toContain('SENTINEL');
    expect(out.match(/SENTINEL/g)?.length).toBeGreaterThanOrEqual(9);
    const config = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === 'secbot-config') as unknown as { data: Record<string, string> };
    expect(config.data['config.yml']!.trim()).toBe(readFileSync(join(root, 'config.yml'), 'utf8').trim());
    expect(readFileSync(join(chart, 'files/config.yml'), 'utf8')).toBe(readFileSync(join(root, 'config.yml'), 'utf8'));
    // A secret-looking key in the shared env is refused.
    const refused = render(['--set-string', 'env.SLACK_TOKEN=oops']);
    expect(refused.code).not.toBe(0);
    expect(refused.out).toMatch(/looks like a secret/);
    // One Secret for every service is gone.
    const shared = render(['--set', 'secrets.existingSecret=secbot-tokens']);
    expect(shared.code).not.toBe(0);
    expect(shared.out).toMatch(/secrets.existingSecret \(one Secret for every service\) is no longer supported/);
    // Without GitLab instances there is nothing to render.
    const r = run(bin('helm'), ['template', 'secbot', chart, '--kube-version', '1.31.0', '--set-string', 'postgresql.dsn=x']);
    expect(r.code).not.toBe(0);
    expect(r.out).toMatch(/secrets.gitlabConfigs is required/);
  });

  it('ships no value of .env.dev, neither in values.yaml nor in any rendering', () => {
    expect(devSecrets.length).toBeGreaterThanOrEqual(8);
    for (const f of readdirSync(chart, { recursive: true, encoding: 'utf8' })) {
      const path = join(chart, f);
      if (existsSync(path) && !statSync(path).isDirectory()) expect(devSecretsIn(readFileSync(path, 'utf8')), f).toEqual([]);
    }
    expect(devSecretsIn(readFileSync(join(root, 'deploy/helm/nats-values.yaml'), 'utf8'))).toEqual([]);
    for (const extra of [[], ['--set', 'secrets.create=false', '--set', 'postgresql.existingSecret=secbot-pg', '--set', 'postgresql.dsn=']]) {
      const r = render(extra);
      expect(r.code, r.out).toBe(0);
      expect(devSecretsIn(r.out)).toEqual([]);
    }
  });

  it('turns NATS authentication on: a user per service with its password in its own Secret, and the server configuration that names them', () => {
    const { objects } = render();
    const auth = (objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === 'secbot-nats-auth') as unknown as { data: Record<string, string> }).data['auth.conf']!;
    // The chart renders exactly the users and permissions of nats-auth.ts (for its stream values).
    const body = (t: string) => t.slice(t.indexOf('authorization {')).trim();
    expect(body(auth)).toBe(body(natsAuthorizationConfig(defaultNatsLayout)));
    for (const u of NATS_USERS) expect(auth).toContain(`user: "${u}"\n      password: $${natsPasswordVariable(u)}`);
    expect(auth).not.toMatch(/password: "/); // no password in the ConfigMap
    const secrets = objects.filter((o) => o.kind === 'Secret') as unknown as { metadata: { name: string }; stringData: Record<string, string> }[];
    const passwords = new Set<string>();
    for (const sec of secrets) {
      const pw = sec.stringData['SECBOT_NATS_PASSWORD']!;
      expect(pw, sec.metadata.name).toMatch(/^[A-Za-z][A-Za-z0-9_-]{15,}$/);
      passwords.add(pw);
    }
    expect(passwords.size).toBe(secrets.length); // one password per user
    for (const d of objects.filter((o) => o.kind === 'Deployment') as unknown as Deployment[]) {
      const name = d.metadata.name.replace(/^secbot-/, '');
      expect(d.spec.template.spec.containers[0]!.env.find((e) => e.name === 'SECBOT_NATS_USER')?.value, name).toBe(name);
    }
    // A password given in values is used as is, and a bad one refused.
    const given = render(['--set', 'secrets.natsPasswords.intake=pGivenPassword0123456789']);
    expect((given.objects.find((o) => o.kind === 'Secret' && o.metadata.name === 'secbot-intake') as unknown as { stringData: Record<string, string> }).stringData['SECBOT_NATS_PASSWORD']).toBe('pGivenPassword0123456789');
    const bad = render(['--set', 'secrets.natsPasswords.intake=1234']);
    expect(bad.code).not.toBe(0);
    expect(bad.out).toMatch(/secrets.natsPasswords.intake: 16 or more letters/);
    // The official NATS chart's values include that configuration and read every password from SecBot's Secrets.
    const nats = parseAllDocuments(readFileSync(join(root, 'deploy/helm/nats-values.yaml'), 'utf8'))[0]!.toJS() as {
      config: { merge: Record<string, string> };
      container: { env: Record<string, { valueFrom: { secretKeyRef: { name: string; key: string } } }>; patch: { value: { mountPath: string; name: string } }[] };
      podTemplate: { patch: { value: { name: string; configMap: { name: string } } }[] };
      natsBox: { enabled: boolean };
    };
    expect(Object.entries(nats.config.merge).find(([k]) => k.endsWith('$include'))?.[1]).toBe('secbot/auth.conf');
    expect(nats.container.patch[0]!.value).toMatchObject({ name: 'secbot-nats-auth', mountPath: '/etc/nats-config/secbot' });
    expect(nats.podTemplate.patch[0]!.value).toMatchObject({ name: 'secbot-nats-auth', configMap: { name: 'secbot-nats-auth' } });
    for (const u of NATS_USERS) {
      expect(nats.container.env[natsPasswordVariable(u)]?.valueFrom.secretKeyRef, u).toEqual({ name: `secbot-${u}`, key: 'SECBOT_NATS_PASSWORD' });
    }
    expect(nats.natsBox.enabled).toBe(false);
  });

  it('has NetworkPolicies: only intake and results reachable, NATS only from SecBot pods, PostgreSQL only from results', () => {
    const { objects } = render();
    type Policy = { metadata: { name: string }; spec: { podSelector: { matchLabels: Record<string, string> }; policyTypes: string[]; ingress?: { from?: { podSelector?: { matchLabels: Record<string, string> } }[]; ports: { port: number | string }[] }[] } };
    const policies = new Map((objects.filter((o) => o.kind === 'NetworkPolicy') as unknown as Policy[]).map((p) => [p.metadata.name, p]));
    expect([...policies.keys()].sort()).toEqual(['secbot-default-deny', 'secbot-intake', 'secbot-nats', 'secbot-postgresql', 'secbot-results']);
    const deny = policies.get('secbot-default-deny')!;
    expect(deny.spec.podSelector.matchLabels).toEqual({ 'app.kubernetes.io/part-of': 'secbot', 'app.kubernetes.io/instance': 'secbot' });
    expect(deny.spec.policyTypes).toEqual(['Ingress']);
    expect(deny.spec.ingress).toBeUndefined();
    for (const s of ['intake', 'results']) expect(policies.get(`secbot-${s}`)!.spec.ingress?.[0]?.ports).toEqual([{ port: 'http', protocol: 'TCP' }]);
    const nats = policies.get('secbot-nats')!;
    expect(nats.spec.podSelector.matchLabels).toEqual({ 'app.kubernetes.io/name': 'nats', 'app.kubernetes.io/instance': 'nats' });
    const client = nats.spec.ingress!.find((i) => i.ports[0]!.port === 4222)!;
    expect(client.from).toEqual([{ podSelector: { matchLabels: { 'app.kubernetes.io/part-of': 'secbot', 'app.kubernetes.io/instance': 'secbot' } } }]);
    const pg = policies.get('secbot-postgresql')!;
    expect(pg.spec.ingress).toEqual([{ ports: [{ port: 5432, protocol: 'TCP' }], from: [{ podSelector: { matchLabels: { 'app.kubernetes.io/instance': 'secbot', 'app.kubernetes.io/name': 'results' } } }] }]);
    // Every SecBot pod carries the labels the policies select on.
    for (const d of objects.filter((o) => o.kind === 'Deployment') as unknown as { spec: { template: { metadata: { labels: Record<string, string> } } } }[]) {
      expect(d.spec.template.metadata.labels).toMatchObject(deny.spec.podSelector.matchLabels);
    }
  });

  it('keeps the generated NATS authorization files up to date (scripts/nats-auth-config.ts)', () => {
    const r = run(process.execPath, [join(root, 'scripts/nats-auth-config.ts'), '--check']);
    expect(r.code, r.out).toBe(0);
  });

  it('autoscales the scanner, keeps its mirrors on a PVC, and exposes intake :5000 and results :5001', () => {
    const { objects } = render(['--set', 'ingress.enabled=true']);
    const hpa = objects.find((o) => o.kind === 'HorizontalPodAutoscaler') as unknown as { spec: { scaleTargetRef: { kind: string; name: string }; maxReplicas: number } };
    expect(hpa.spec.scaleTargetRef).toMatchObject({ kind: 'Deployment', name: 'secbot-scanner-gitleaks' });
    const scanner = objects.find((o) => o.kind === 'Deployment' && o.metadata.name === 'secbot-scanner-gitleaks') as unknown as Deployment;
    expect((scanner.spec as { replicas?: number }).replicas).toBeUndefined(); // the HPA owns it
    const c = scanner.spec.template.spec.containers[0]!;
    expect(c.env.find((e) => e.name === 'SCANNER_DATA_DIR')?.value).toBe('/data');
    expect(c.volumeMounts.find((m) => m.name === 'data')?.mountPath).toBe('/data');
    const pvc = objects.find((o) => o.kind === 'PersistentVolumeClaim')!;
    expect(scanner.spec.template.spec.volumes.find((v) => v.name === 'data')?.persistentVolumeClaim?.claimName).toBe(pvc.metadata.name);

    const svc = (n: string) => objects.find((o) => o.kind === 'Service' && o.metadata.name === `secbot-${n}`) as unknown as { spec: { ports: { port: number }[] } };
    expect(svc('intake').spec.ports[0]!.port).toBe(5000);
    expect(svc('results').spec.ports[0]!.port).toBe(5001);
    const ingress = objects.find((o) => o.kind === 'Ingress') as unknown as { spec: { rules: { http: { paths: { path: string; backend: { service: { name: string } } }[] } }[] } };
    const routes = ingress.spec.rules.flatMap((r) => r.http.paths.map((p) => `${p.path} -> ${p.backend.service.name}`));
    expect(routes).toEqual(['/v1/gitlab/webhook -> secbot-intake', '/v1/security -> secbot-results']);
  });
});

interface Deployment {
  metadata: { name: string };
  spec: {
    template: {
      spec: {
        securityContext: { runAsNonRoot?: boolean };
        containers: {
          image: string;
          env: { name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string; key: string } } }[];
          envFrom?: { configMapRef?: { name: string }; secretRef?: { name: string } }[];
          ports: { containerPort: number }[];
          livenessProbe: { httpGet: { path: string } };
          readinessProbe: { httpGet: { path: string } };
          resources: { requests?: Record<string, string>; limits?: Record<string, string> };
          securityContext: { readOnlyRootFilesystem?: boolean };
          volumeMounts: { name: string; mountPath: string }[];
        }[];
        volumes: { name: string; configMap?: { name: string }; persistentVolumeClaim?: { claimName: string } }[];
      };
    };
  };
}

// ---------------------------------------------------------------------------------------------------------
describe('deploy/docker-compose.yml', () => {
  type Service = {
    build?: { context: string; dockerfile: string };
    env_file?: { path: string; required: boolean }[];
    environment?: Record<string, string>;
    healthcheck?: { test: string[] };
    command?: string[];
    ports?: (string | { host_ip?: string; published?: string; target: number })[];
    volumes?: { source: string; target: string }[];
    depends_on?: Record<string, unknown>;
  };
  // The project directory is deploy/, as with `docker compose -f deploy/docker-compose.yml`. compose-go's own
  // command interpolates no variable from the environment (its LoadModel ignores it), so the model is read
  // as written and ${...} is resolved here, as compose does, with the operator's values of deploy/.env.
  const load = (args: string[] = []) => run(bin('compose-spec'), [...args, '--format', 'json', 'docker-compose.yml'], { cwd: join(root, 'deploy') });
  const raw = load(['--no-interpolation']);
  const model = (raw.code === 0 ? JSON.parse(raw.out) : { services: {} }) as { services: Record<string, Service>; volumes: Record<string, unknown> };
  const operatorEnv: Record<string, string> = {
    ...Object.fromEntries(NATS_USERS.map((u) => [natsPasswordVariable(u), `pSENTINEL-${u}-password`])),
    SECBOT_COMPOSE_POSTGRES_PASSWORD: 'pSENTINEL-pg-password',
    GITLAB_CONFIGS: '[{"host":"https://gitlab.example.com/","webhook_secret_token":"SENTINEL-webhook","auth_token":"SENTINEL-auth","prefix":"GIT"}]',
    SCANNER_FINGERPRINT_KEY: 'SENTINEL-fingerprint-key',
    SECBOT_LINK_SIGNING_KEY: 'SENTINEL-link-signing-key',
  };
  const interpolate = (text: string, env: Record<string, string>) =>
    text.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}/g, (_m, name: string, op: string | undefined, arg: string | undefined) =>
      env[name] ?? (op?.endsWith('-') ? (arg ?? '') : `<missing ${name}>`),
    );
  const resolve = <T>(value: T, env: Record<string, string>): T =>
    (typeof value === 'string'
      ? interpolate(value, env)
      : Array.isArray(value)
        ? value.map((v) => resolve(v, env))
        : value && typeof value === 'object'
          ? Object.fromEntries(Object.entries(value).map(([k, v]) => [k, resolve(v, env)]))
          : value) as T;
  const project = resolve(model, operatorEnv);

  it('loads with compose-go (docker compose config) and runs NATS with JetStream and authentication, PostgreSQL and every service', () => {
    expect(raw.code, raw.out).toBe(0);
    expect(Object.keys(project.services).sort()).toEqual([...services, 'nats', 'postgres'].sort());
    const nats = project.services['nats']!;
    expect(nats.command).toEqual(['--config', '/etc/nats/nats-server.conf']);
    expect(nats.volumes?.some((v) => v.target === '/etc/nats' && v.source === join(root, 'deploy/nats'))).toBe(true);
    expect(nats.volumes?.some((v) => v.target === '/data' && v.source === 'nats-data')).toBe(true);
    const conf = readFileSync(join(root, 'deploy/nats/nats-server.conf'), 'utf8');
    expect(conf).toMatch(/^jetstream \{\n {2}store_dir: \/data\n\}/m);
    expect(conf).toMatch(/^include \.\/secbot-auth\.conf$/m);
    expect(readFileSync(join(root, 'deploy/nats/secbot-auth.conf'), 'utf8')).toContain(natsAuthorizationConfig(defaultNatsLayout));
    for (const u of NATS_USERS) expect(model.services['nats']!.environment?.[natsPasswordVariable(u)], u).toMatch(new RegExp(`^\\$\\{${natsPasswordVariable(u)}:\\?`));
    expect(nats.ports ?? []).toEqual([]);
    expect(project.services['postgres']!.ports ?? []).toEqual([]);
    for (const s of services) {
      const svc = project.services[s]!;
      expect(svc.build?.context.replace(/\/$/, ''), s).toBe(root.replace(/\/$/, ''));
      expect(existsSync(join(root, svc.build!.dockerfile)), s).toBe(true);
      expect(svc.environment?.['SECBOT_LISTEN_HOST']).toBe('0.0.0.0');
      expect(svc.environment?.['SECBOT_NATS_URL']).toBe('nats://nats:4222');
      expect(svc.environment?.['SECBOT_NATS_USER'], s).toBe(s);
      expect(model.services[s]!.environment?.['SECBOT_NATS_PASSWORD'], s).toMatch(new RegExp(`^\\$\\{${natsPasswordVariable(s as never)}:\\?`));
      expect(svc.environment?.['SECBOT_ENV'], s).toBeUndefined(); // production
      expect(svc.environment?.[ports[s]!.env]).toBe(String(ports[s]!.port));
      expect(svc.healthcheck?.test.join(' '), s).toContain(`http://127.0.0.1:${ports[s]!.port}/readyz`);
      expect(svc.volumes?.some((v) => v.target === svc.environment?.['SECBOT_CONFIG'] && v.source.endsWith('/config.yml')), s).toBe(true);
      expect(svc.depends_on?.['nats'], s).toBeTruthy();
    }
    expect(project.services['results']!.depends_on?.['postgres']).toBeTruthy();
    expect(project.services['scanner-gitleaks']!.volumes?.some((v) => v.target === '/data')).toBe(true);
  });

  it('ships no value of .env.dev: no .env file of the repository, every secret from the operator, each service only its own', () => {
    const text = readFileSync(join(root, 'deploy/docker-compose.yml'), 'utf8');
    expect(devSecretsIn(text)).toEqual([]);
    expect(devSecretsIn(readFileSync(join(root, 'deploy/.env.example'), 'utf8'))).toEqual([]);
    expect(devSecretsIn(JSON.stringify(project))).toEqual([]);
    expect(text.split('\n').filter((l) => !l.trim().startsWith('#')).join('\n')).not.toMatch(/\.env\.(dev|override)/);
    for (const s of services) {
      const svc = model.services[s]!;
      // Only the service's own optional file, never a shared one.
      expect(svc.env_file?.map((e) => `${e.path.slice(root.length)}:${e.required}`), s).toEqual([`deploy/secrets/${s}.env:false`]);
      const secretKeys = Object.keys(svc.environment ?? {}).filter((k) => isSecretSettingName(k) || k === 'SECBOT_POSTGRES_DSN');
      // A secret has no default: compose refuses to start without it.
      for (const k of secretKeys) expect(svc.environment![k], `${s} ${k}`).toMatch(/\$\{[A-Z0-9_]+:\?/);
      const allowed = [...ownSecrets[s]!, 'SECBOT_NATS_PASSWORD'];
      expect(secretKeys.filter((k) => !allowed.includes(k)), s).toEqual([]);
    }
    // The scanner never sees a Slack, DefectDojo or API token.
    expect(JSON.stringify(model.services['scanner-gitleaks'])).not.toMatch(/SLACK|DEFECTDOJO|API_TOKEN|READ_TOKEN|LINK_SIGNING/);
    // Without the operator's values compose refuses to start, naming each one.
    const bare = load();
    expect(bare.code).not.toBe(0);
    for (const v of Object.keys(operatorEnv)) expect(bare.out, v).toContain(`required variable ${v} is missing a value`);
  });

  it('publishes intake and results on 127.0.0.1 only, unless the operator opts out (SECBOT_BIND_ADDRESS)', () => {
    const published = (p: typeof project) =>
      Object.entries(p.services).flatMap(([name, svc]) => (svc.ports ?? []).map((port) => `${name} ${typeof port === 'string' ? port : `${port.host_ip ?? ''}:${port.published}:${port.target}`}`));
    expect(published(project)).toEqual(['intake 127.0.0.1:5000:5000', 'results 127.0.0.1:5001:5001']);
    const open = resolve(model, { ...operatorEnv, SECBOT_BIND_ADDRESS: '0.0.0.0' });
    expect(published(open)).toEqual(['intake 0.0.0.0:5000:5000', 'results 0.0.0.0:5001:5001']);
  });

  it("NATS's configuration parses, and refuses to start without every user's password", () => {
    const dir = join(root, '.data/deploy-test/nats-conf');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'nats-server.conf'), readFileSync(join(root, 'deploy/nats/nats-server.conf'), 'utf8').replace('store_dir: /data', `store_dir: ${join(dir, 'js')}`));
    writeFileSync(join(dir, 'secbot-auth.conf'), readFileSync(join(root, 'deploy/nats/secbot-auth.conf'), 'utf8'));
    const natsServer = ['/usr/sbin/nats-server', '/usr/bin/nats-server', '/usr/local/bin/nats-server'].find(existsSync) ?? 'nats-server';
    const check = (env: Record<string, string>) => spawnSync(natsServer, ['-t', '-c', join(dir, 'nats-server.conf')], { env: { PATH: process.env['PATH'] ?? '', ...env }, encoding: 'utf8' });
    const ok = check(operatorEnv);
    expect(ok.status, `${ok.stdout}${ok.stderr}`).toBe(0);
    const { [natsPasswordVariable('scanner-gitleaks')]: _missing, ...without } = operatorEnv;
    const refused = check(without);
    expect(refused.status).not.toBe(0);
    expect(`${refused.stdout}${refused.stderr}`).toMatch(/SECBOT_NATS_PASSWORD_SCANNER_GITLEAKS/);
  });
});

// ---------------------------------------------------------------------------------------------------------
describe('Dockerfiles (deploy/docker)', () => {
  const require = createRequire(import.meta.url);
  const dockerfileUtils = (): { validate(text: string, settings: object): { message: string; range: { start: { line: number } } }[] } =>
    require(join(root, '.tools/npm/node_modules/dockerfile-utils')) as never;

  it.each(services)('%s: lints clean and follows the rules (pinned bases, bundle only, non-root, healthcheck)', (s) => {
    const file = join(root, 'deploy/docker', `${s}.Dockerfile`);
    expect(existsSync(file), `deploy/docker/${s}.Dockerfile`).toBe(true);
    expect(existsSync(`${file}.dockerignore`)).toBe(true);
    const text = readFileSync(file, 'utf8');
    const diagnostics = dockerfileUtils().validate(text, {});
    expect(diagnostics.map((d) => `line ${d.range.start.line + 1}: ${d.message}`)).toEqual([]);

    const lines = text.replace(/\\\n/g, ' ').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
    const froms = lines.filter((l) => /^FROM\s/i.test(l));
    expect(froms.length).toBeGreaterThanOrEqual(2); // multi-stage
    for (const f of froms) expect(f, 'base images are pinned to an exact version').toMatch(/^FROM\s+[a-z0-9./-]+:\d+\.\d+\.\d+[-a-z0-9.]*(@sha256:[0-9a-f]{64})?(\s+AS\s+\S+)?$/i);
    expect(froms.at(-1)).toMatch(/^FROM\s+node:24\./);
    const finalStage = lines.slice(lines.lastIndexOf(froms.at(-1)!));
    const users = finalStage.filter((l) => /^USER\s/i.test(l));
    expect(users.at(-1)).toMatch(/^USER\s+(node|\d{3,})$/);
    expect(finalStage.some((l) => /^HEALTHCHECK\s.*\/readyz/.test(l))).toBe(true);
    expect(finalStage.some((l) => l === `EXPOSE ${ports[s]!.port}`)).toBe(true);
    expect(finalStage.find((l) => l.startsWith('ENV '))).toContain('SECBOT_LISTEN_HOST=0.0.0.0');
    expect(finalStage.find((l) => l.startsWith('ENV '))).toContain(`${ports[s]!.env}=${ports[s]!.port}`);
    expect(finalStage.some((l) => l === `COPY --from=build --chown=root:root /src/dist/${s} /app`)).toBe(true);
    expect(finalStage.at(-1)).toBe('CMD ["node", "src/main.js"]');
    expect(lines.some((l) => l.includes(`node scripts/build-bundles.ts ${s}`))).toBe(true);
    if (s === 'scanner-gitleaks') {
      expect(text).toContain('ARG GITLEAKS_VERSION=v8.30.1');
      expect(text).toMatch(/go install[\s\S]*github\.com\/zricethezav\/gitleaks\/v8@\$\{GITLEAKS_VERSION\}/);
      expect(text).toMatch(/apt-get install -y --no-install-recommends git /);
      expect(finalStage.some((l) => l.startsWith('COPY --from=gitleaks /out/gitleaks /usr/local/bin/gitleaks'))).toBe(true);
    }
  });

  it('the Dockerfile linter catches a broken Dockerfile', () => {
    const diagnostics = dockerfileUtils().validate('FROM node:24.21.0-bookworm-slim\nRUNN echo\nEXPOSE abc\n', {});
    expect(diagnostics.length).toBe(2);
  });
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}
