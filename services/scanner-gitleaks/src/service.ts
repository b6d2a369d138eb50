import { join, resolve } from 'node:path';
import { EventReceivedV1, ProjectEnrolledV1, ScanCompletedV1, type PlannedComponent } from '@secbot/contracts';
import { existsSync } from 'node:fs';
import { Counter, Histogram } from 'prom-client';
import { readdir, rm, stat } from 'node:fs/promises';
import {
  CommonSettings,
  ConfigError,
  createHttpServer,
  createPublisher,
  loadPolicy,
  readSettings,
  startRuntime,
  subscribe,
  type Logger,
  type StartOptions,
} from '@secbot/service-kit';
import { createGitleaksCli, resolveGitleaksBin } from './adapters/gitleaks/cli.ts';
import { createMirrors } from './adapters/git/mirror.ts';
import { createReportStore } from './adapters/report-store/object-store.ts';
import { ScannerSettings } from './config.ts';
import { parseComponentConfig } from './component-config.ts';
import { HANDLER, handleEventReceived, SOURCE } from './handle-event-received.ts';
import { judgeCommit, scanComponent } from './scan-component.ts';
import { kvProjectRecords } from './adapters/nats-kv/project-records.ts';
import { handleEnrollment } from './handle-enrollment.ts';
import { loadRecordedFindings } from './recorded-findings.ts';

export interface RunningScanner {
  url: string;
  log: Logger;
  close(): Promise<void>;
}

/** Settings and the gitleaks components of the policy, checked together; every problem is listed. */
export function readScannerConfig(env: Record<string, string | undefined>): ScannerSettings & { components: PlannedComponent[] } {
  const problems: string[] = [];
  const components: PlannedComponent[] = [];
  let settings: ScannerSettings | undefined;
  try {
    settings = readSettings(ScannerSettings, env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    problems.push(...err.problems);
  }
  // The scanner acts on the plan carried by each event, but a broken gitleaks component in config.yml is
  // better refused here than reported on every scan. Intake owns the policy file; without it, skip.
  const policyPath = env['SECBOT_CONFIG'] ?? CommonSettings.shape.SECBOT_CONFIG.parse(undefined);
  if (existsSync(policyPath)) {
    try {
      const policy = loadPolicy(policyPath);
      for (const c of Object.values(policy.components)) {
        if (c.handler !== HANDLER) continue;
        const parsed = parseComponentConfig(c.config);
        if (!parsed.ok) problems.push(...parsed.problems.map((p) => `${policy.file}: components.${c.name}.config.${p}`));
        components.push({ name: c.name, handler: c.handler, config: c.config });
      }
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      problems.push(...err.problems);
    }
  }
  if (problems.length || !settings) throw new ConfigError('SecBot scanner-gitleaks configuration', problems);
  return { ...settings, components };
}

export async function startScannerGitleaks(env: Record<string, string | undefined>, opts: StartOptions = {}): Promise<RunningScanner> {
  const settings = readScannerConfig(env);
  const gitleaks = createGitleaksCli(resolveGitleaksBin(settings.GITLEAKS_BIN));
  // Fail fast: a scanner without its scanner would only ever publish errors.
  const version = await gitleaks.version();
  const rt = await startRuntime(SOURCE, settings, opts);
  const { log, metrics, nats, stream } = rt;
  const publisher = createPublisher({ js: nats.js, stream, metrics });
  const scans = new Counter({
    name: 'secbot_scans_total',
    help: 'scan.completed results published, by component and status',
    labelNames: ['scan', 'status'],
    registers: [metrics.registry],
  });
  const scanSeconds = new Histogram({
    name: 'secbot_scan_duration_seconds',
    help: 'Time to fetch and scan one component of a check',
    labelNames: ['scan'],
    buckets: [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
    registers: [metrics.registry],
  });
  const reports = createReportStore(nats.nc, settings.SCANNER_REPORT_BUCKET, { retentionDays: stream.retentionDays, replicas: stream.replicas });
  const dataDir = resolve(settings.SCANNER_DATA_DIR);
  const mirrors = createMirrors({
    dataDir,
    gitTimeoutMs: settings.SCANNER_GIT_TIMEOUT_SECONDS * 1000,
    lockWaitMs: settings.SCANNER_LOCK_WAIT_SECONDS * 1000,
    lockStaleMs: settings.SCANNER_LOCK_STALE_SECONDS * 1000,
  });
  const tmpDir = join(dataDir, 'tmp');
  await removeLeftovers(tmpDir, log);
  // Findings, baselines and scanned tips per project: kept for ever, beside the events (docs/architecture.md).
  const records = await kvProjectRecords(nats.js, {
    bucket: settings.SCANNER_PROJECTS_BUCKET,
    replicas: stream.replicas,
    maxPayload: () => nats.nc.info?.max_payload ?? 1024 * 1024,
  });
  await loadRecordedFindings(nats, stream, records, log);

  // One scan at a time per replica: scans are CPU-bound; add replicas to scale out.
  const delivery = {
    nats,
    stream,
    log,
    metrics,
    maxDeliver: settings.SCANNER_MAX_DELIVER,
    ackWaitMs: settings.SCANNER_ACK_WAIT_SECONDS * 1000,
    ...(opts.backoffMs ? { backoffMs: opts.backoffMs } : {}),
    batch: 1,
  };
  const subscription = await subscribe({
    ...delivery,
    durable: 'scanner-gitleaks',
    events: [EventReceivedV1],
    handle: (event, ctx) =>
      handleEventReceived(
        event,
        { deliveryCount: ctx.deliveryCount, log: ctx.log },
        {
          instances: settings.GITLAB_CONFIGS,
          scan: (e, component, remote) =>
            scanComponent(e, component, remote, { mirrors, gitleaks, records, fingerprintKey: settings.SCANNER_FINGERPRINT_KEY, tmpDir, log: ctx.log }),
          publish: async (completed) => {
            await publisher.publish(ScanCompletedV1, completed);
            scans.inc({ scan: completed.data.scan, status: completed.data.status });
            scanSeconds.observe({ scan: completed.data.scan }, completed.data.durationMs / 1000);
          },
          storeReport: (name, content) => reports.put(name, content),
          inlineReportMaxBytes: settings.SCANNER_INLINE_REPORT_MAX_BYTES,
          maxDeliver: settings.SCANNER_MAX_DELIVER,
        },
      ),
  });

  const enrollments = await subscribe({
    ...delivery,
    durable: 'scanner-gitleaks-enrollments',
    events: [ProjectEnrolledV1],
    handle: (event, ctx) =>
      handleEnrollment(event, {
        instances: settings.GITLAB_CONFIGS,
        components: settings.components,
        mirrors,
        records,
        log: ctx.log,
        judge: (target, component, config) =>
          judgeCommit(target, component, config, { mirrors, gitleaks, records, fingerprintKey: settings.SCANNER_FINGERPRINT_KEY, tmpDir, log: ctx.log }),
      }),
  });

  const app = await createHttpServer({
    service: SOURCE,
    log,
    metrics,
    readiness: { nats: rt.natsReady },
  });
  const address = await app.listen({ port: opts.port ?? settings.SCANNER_PORT, host: settings.SECBOT_LISTEN_HOST });
  log.info({ url: address, gitleaks: version, dataDir }, 'Scanner listening');

  return {
    url: address,
    log,
    async close() {
      await subscription.stop();
      await enrollments.stop();
      await app.close();
      await rt.close();
    },
  };
}

/**
 * Scan directories hold no secret (gitleaks' report goes through a pipe), but a killed scanner can leave a
 * config or an exported tree behind. Old ones are removed at start; recent ones may be another replica's.
 */
async function removeLeftovers(tmpDir: string, log: Logger): Promise<void> {
  const entries = await readdir(tmpDir).catch(() => [] as string[]);
  const cutoff = Date.now() - 6 * 60 * 60 * 1000;
  for (const name of entries) {
    const path = join(tmpDir, name);
    const old = await stat(path).then((s) => s.mtimeMs < cutoff, () => false);
    if (old) {
      await rm(path, { recursive: true, force: true });
      log.info({ path }, 'Removed a scan directory left by a stopped scanner');
    }
  }
}

export type { StartOptions } from '@secbot/service-kit';
