// Keeps deploy/ honest without a Docker engine or a Kubernetes cluster:
//  - the production bundle of every service (scripts/build-bundles.ts, what the images copy) starts from its own
//    folder against the running NATS and PostgreSQL and answers /readyz;
//  - the Helm chart passes `helm lint --strict`, renders, decodes strictly into the Kubernetes API types
//    (k8s-manifest-check) and has the structure SecBot needs (probes, resources, secrets only in Secrets, ...);
//  - deploy/docker-compose.yml loads with compose-go (what `docker compose config` runs);
//  - every Dockerfile parses and lints clean (dockerfile-utils) and follows this project's rules.
// The tools come from scripts/install-deploy-tools.sh (run here when missing).
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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
    const gitlab = JSON.stringify([{ host: 'http://example.com/', webhook_secret_token: 'deploy-test-webhook-secret', auth_token: 'deploy-test-token', prefix: 'GIT_LOCAL' }]);
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
    apiToken: 'SENTINEL-api-token',
    readToken: 'SENTINEL-read-token',
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
      ['--set', 'secrets.create=false', '--set', 'secrets.existingSecret=secbot-tokens', '--set', 'postgresql.existingSecret=secbot-pg', '--set', 'postgresql.dsn='],
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

  it('keeps every token in the Secret, never in a ConfigMap, and ships the repository config.yml', () => {
    const { objects, out } = render();
    const secret = objects.find((o) => o.kind === 'Secret') as unknown as { stringData: Record<string, string> };
    expect(Object.keys(secret.stringData).sort()).toEqual(
      ['DEFECTDOJO__TOKEN', 'GITLAB_CONFIGS', 'SCANNER_FINGERPRINT_KEY', 'SECBOT_API_TOKEN', 'SECBOT_POSTGRES_DSN', 'SECBOT_READ_TOKEN', 'SLACK_TOKEN'],
    );
    for (const o of objects.filter((x) => x.kind !== 'Secret')) expect(JSON.stringify(o), `${o.kind} ${o.metadata.name}`).not.toContain('SENTINEL');
    expect(out.match(/SENTINEL/g)?.length).toBeGreaterThanOrEqual(7);
    const config = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === 'secbot-config') as unknown as { data: Record<string, string> };
    expect(config.data['config.yml']!.trim()).toBe(readFileSync(join(root, 'config.yml'), 'utf8').trim());
    expect(readFileSync(join(chart, 'files/config.yml'), 'utf8')).toBe(readFileSync(join(root, 'config.yml'), 'utf8'));
    // A secret-looking key in the shared env is refused.
    const refused = render(['--set-string', 'env.SLACK_TOKEN=oops']);
    expect(refused.code).not.toBe(0);
    expect(refused.out).toMatch(/looks like a secret/);
    // Without GitLab instances there is nothing to render.
    const r = run(bin('helm'), ['template', 'secbot', chart, '--kube-version', '1.31.0', '--set-string', 'postgresql.dsn=x']);
    expect(r.code).not.toBe(0);
    expect(r.out).toMatch(/secrets.gitlabConfigs is required/);
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
          env: { name: string; value?: string }[];
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
  it('loads with compose-go (docker compose config) and runs NATS with JetStream, PostgreSQL and every service', () => {
    // The project directory is deploy/, as with `docker compose -f deploy/docker-compose.yml`.
    const r = run(bin('compose-spec'), ['--format', 'json', 'docker-compose.yml'], { cwd: join(root, 'deploy') });
    expect(r.code, r.out).toBe(0);
    const project = JSON.parse(r.out) as {
      services: Record<string, {
        build?: { context: string; dockerfile: string };
        env_file?: { path: string; required: boolean }[];
        environment?: Record<string, string>;
        healthcheck?: { test: string[] };
        command?: string[];
        volumes?: { source: string; target: string }[];
        depends_on?: Record<string, unknown>;
      }>;
      volumes: Record<string, unknown>;
    };
    expect(Object.keys(project.services).sort()).toEqual([...services, 'nats', 'postgres'].sort());
    expect(project.services['nats']!.command).toContain('--jetstream');
    expect(project.services['nats']!.volumes?.some((v) => v.target === '/data' && v.source === 'nats-data')).toBe(true);
    for (const s of services) {
      const svc = project.services[s]!;
      expect(svc.build?.context.replace(/\/$/, ''), s).toBe(root.replace(/\/$/, ''));
      expect(existsSync(join(root, svc.build!.dockerfile)), s).toBe(true);
      expect(svc.env_file?.map((e) => e.path.slice(root.length))).toEqual(['.env.dev', '.env.override']);
      expect(svc.environment?.['SECBOT_LISTEN_HOST']).toBe('0.0.0.0');
      expect(svc.environment?.['SECBOT_NATS_URL']).toBe('nats://nats:4222');
      expect(svc.environment?.[ports[s]!.env]).toBe(String(ports[s]!.port));
      expect(svc.healthcheck?.test.join(' '), s).toContain(`http://127.0.0.1:${ports[s]!.port}/readyz`);
      expect(svc.volumes?.some((v) => v.target === svc.environment?.['SECBOT_CONFIG'] && v.source.endsWith('/config.yml')), s).toBe(true);
      expect(svc.depends_on?.['nats'], s).toBeTruthy();
    }
    expect(project.services['results']!.depends_on?.['postgres']).toBeTruthy();
    expect(project.services['scanner-gitleaks']!.volumes?.some((v) => v.target === '/data')).toBe(true);
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
