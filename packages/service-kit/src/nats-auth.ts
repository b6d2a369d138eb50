// The NATS users of SecBot and what each may do: one user per service (and `ops` for the secbot CLI). A user
// may publish only its own event subjects, use only its own JetStream consumers and buckets, and read only the
// replies sent to its own inbox. scripts/nats-auth-config.ts writes this as a nats-server `authorization`
// block for docker compose (deploy/nats/secbot-auth.conf) and for the Helm chart (files/nats-auth.conf).
import { natsInboxPrefix } from './nats.ts';

export const NATS_USERS = ['intake', 'results', 'scanner-gitleaks', 'output-builtin', 'output-defectdojo', 'notifier-slack', 'notifier-gitlab', 'ops'] as const;
export type NatsUser = (typeof NATS_USERS)[number];

/** Where SecBot's data lives in NATS: the event stream, its subject prefix, and the scanner's buckets. */
export interface NatsLayout {
  stream: string;
  prefix: string;
  /** KV bucket of the scanner's project records (SCANNER_PROJECTS_BUCKET). */
  projectsBucket: string;
  /** Object store bucket of large redacted reports (SCANNER_REPORT_BUCKET). */
  reportBucket: string;
}

export const defaultNatsLayout: NatsLayout = { stream: 'SECBOT', prefix: 'secbot', projectsBucket: 'secbot-projects', reportBucket: 'secbot-gitleaks-reports' };

/** A KV bucket or object store: its JetStream stream and the subjects its entries are written to. */
export interface NatsBucket {
  stream: string;
  subjects: string;
}
const kv = (bucket: string): NatsBucket => ({ stream: `KV_${bucket}`, subjects: `$KV.${bucket}.>` });
const obj = (bucket: string): NatsBucket => ({ stream: `OBJ_${bucket}`, subjects: `$O.${bucket}.>` });

/** What one user does with NATS, in SecBot's terms. */
export interface NatsUserGrant {
  /** Event types it publishes (`event.received` → `<prefix>.event.received.<version>`). */
  publishes: string[];
  /** Its durable consumers on the event stream. */
  durables?: string[];
  /** Reads the event stream with ordered (ephemeral) consumers: its history, not one durable's share. */
  readsStream?: boolean;
  /** Creates the event stream and updates its limits (SECBOT_STREAM_RETENTION_DAYS, ...). */
  managesStream?: boolean;
  /** KV buckets / object stores it owns (creates, reads, writes) ... */
  owns?: NatsBucket[];
  /** ... and those it only reads. */
  reads?: NatsBucket[];
  /** Core subscriptions besides its inbox. */
  subscribes?: string[];
}

/** The grants, from what each service uses (see each service's service.ts and packages/cli). */
export function natsGrants(l: NatsLayout): Record<NatsUser, NatsUserGrant> {
  const S = l.stream;
  return {
    intake: { publishes: ['event.received'] },
    results: { publishes: ['check.expired', 'reevaluation.requested', 'exception.created', 'exception.revoked'], readsStream: true, managesStream: true },
    'scanner-gitleaks': {
      publishes: ['scan.completed'],
      durables: ['scanner-gitleaks', 'scanner-gitleaks-enrollments'],
      // The findings of scan.completed events published before its project records existed.
      readsStream: true,
      owns: [kv(l.projectsBucket), obj(l.reportBucket)],
    },
    'output-builtin': { publishes: ['output.completed'], durables: ['output-builtin'] },
    'output-defectdojo': {
      publishes: ['output.completed'],
      durables: ['output-defectdojo', 'output-defectdojo-reevaluation'],
      owns: [kv(`${S}_output_defectdojo_open`)],
      reads: [obj(l.reportBucket)],
    },
    'notifier-slack': { publishes: ['notified'], durables: ['notifier-slack'], owns: [kv(`${S}_notifier_slack`), kv(`${S}_notifier_slack_posted`)] },
    'notifier-gitlab': { publishes: ['notified'], durables: ['notifier-gitlab'], owns: [kv(`${S}_notifier_gitlab`)] },
    ops: {
      publishes: ['project.enrolled'],
      readsStream: true,
      managesStream: true,
      reads: [kv(l.projectsBucket)],
      // secbot enroll listens for the scanner giving up on the enrollment.
      subscribes: [`$JS.EVENT.ADVISORY.CONSUMER.*.${S}.scanner-gitleaks-enrollments`],
    },
  };
}

export interface NatsPermissions {
  publish: string[];
  /** Refused even where `publish` allows: the durable consumers of the other users. */
  publishDeny: string[];
  subscribe: string[];
}

/** The nats-server permissions of each user: allow lists only, so everything else is refused. */
export function natsPermissions(l: NatsLayout): Record<NatsUser, NatsPermissions> {
  const S = l.stream;
  const grants = natsGrants(l);
  const others = (user: NatsUser) => NATS_USERS.filter((u) => u !== user).flatMap((u) => grants[u].durables ?? []);
  const out = {} as Record<NatsUser, NatsPermissions>;
  for (const [user, grant] of Object.entries(grants) as [NatsUser, NatsUserGrant][]) {
    const pub: string[] = [
      // Its own events, every version.
      ...grant.publishes.map((t) => `${l.prefix}.${t}.*`),
      '$JS.API.INFO',
      `$JS.API.STREAM.INFO.${S}`,
    ];
    if (grant.managesStream) pub.push(`$JS.API.STREAM.CREATE.${S}`, `$JS.API.STREAM.UPDATE.${S}`);
    for (const d of grant.durables ?? []) {
      pub.push(
        `$JS.API.CONSUMER.CREATE.${S}.${d}`,
        `$JS.API.CONSUMER.CREATE.${S}.${d}.>`,
        `$JS.API.CONSUMER.DURABLE.CREATE.${S}.${d}`,
        `$JS.API.CONSUMER.INFO.${S}.${d}`,
        `$JS.API.CONSUMER.MSG.NEXT.${S}.${d}`,
        `$JS.ACK.${S}.${d}.>`,
      );
    }
    if (grant.readsStream) pub.push(...readerApi(S));
    for (const b of grant.owns ?? []) {
      pub.push(
        `$JS.API.STREAM.INFO.${b.stream}`,
        `$JS.API.STREAM.CREATE.${b.stream}`,
        `$JS.API.STREAM.UPDATE.${b.stream}`,
        `$JS.API.STREAM.PURGE.${b.stream}`,
        `$JS.API.STREAM.MSG.DELETE.${b.stream}`,
        ...readerApi(b.stream).filter((s) => !s.startsWith('$JS.API.STREAM.INFO.')),
        b.subjects,
      );
    }
    for (const b of grant.reads ?? []) pub.push(...readerApi(b.stream));
    const sub = [`${natsInboxPrefix(user)}.>`, ...(grant.subscribes ?? [])];
    // A reader of the stream may create and pull ordered consumers of any name, but never another user's
    // durable (it could take that service's messages from it, or remove it); it may look at its state.
    const deny = grant.readsStream
      ? others(user).flatMap((d) => [
          `$JS.API.CONSUMER.CREATE.${S}.${d}`,
          `$JS.API.CONSUMER.CREATE.${S}.${d}.>`,
          `$JS.API.CONSUMER.DURABLE.CREATE.${S}.${d}`,
          `$JS.API.CONSUMER.DELETE.${S}.${d}`,
          `$JS.API.CONSUMER.MSG.NEXT.${S}.${d}`,
        ])
      : [];
    out[user] = { publish: [...new Set(pub)], publishDeny: deny, subscribe: sub };
  }
  return out;
}

/** What reading a stream takes: its info, single messages, and ordered consumers (created, pulled, removed). */
function readerApi(stream: string): string[] {
  return [
    `$JS.API.STREAM.INFO.${stream}`,
    `$JS.API.STREAM.MSG.GET.${stream}`,
    `$JS.API.DIRECT.GET.${stream}`,
    `$JS.API.DIRECT.GET.${stream}.>`,
    `$JS.API.CONSUMER.CREATE.${stream}`,
    `$JS.API.CONSUMER.CREATE.${stream}.>`,
    `$JS.API.CONSUMER.INFO.${stream}.*`,
    `$JS.API.CONSUMER.DELETE.${stream}.*`,
    `$JS.API.CONSUMER.MSG.NEXT.${stream}.*`,
    `$JS.FC.${stream}.>`,
  ];
}

/** The environment variable the NATS server reads a user's password from (the service gets it as SECBOT_NATS_PASSWORD). */
export const natsPasswordVariable = (user: NatsUser): string => `SECBOT_NATS_PASSWORD_${user.toUpperCase().replace(/-/g, '_')}`;

/**
 * A nats-server `authorization` block: one user per service with its permissions. Passwords are references to
 * environment variables of the NATS server (`$SECBOT_NATS_PASSWORD_INTAKE`, ...), so the file holds no secret;
 * nats-server refuses to start when one is not set. `password` may give the config value instead (tests).
 */
export function natsAuthorizationConfig(l: NatsLayout, opts: { header?: string; password?: (user: NatsUser) => string } = {}): string {
  const perms = natsPermissions(l);
  const q = (s: string) => JSON.stringify(s);
  const list = (items: string[], indent: string) => `[\n${items.map((i) => `${indent}  ${q(i)}`).join('\n')}\n${indent}]`;
  const users = NATS_USERS.map((user) => {
    const p = perms[user];
    const password = opts.password ? q(opts.password(user)) : `$${natsPasswordVariable(user)}`;
    return [
      '    {',
      `      user: ${q(user)}`,
      `      password: ${password}`,
      '      permissions: {',
      p.publishDeny.length
        ? `        publish: { allow: ${list(p.publish, '        ')}, deny: ${list(p.publishDeny, '        ')} }`
        : `        publish: { allow: ${list(p.publish, '        ')} }`,
      `        subscribe: { allow: ${list(p.subscribe, '        ')} }`,
      '      }',
      '    }',
    ].join('\n');
  });
  return `${opts.header ?? ''}authorization {\n  users: [\n${users.join('\n')}\n  ]\n}\n`;
}
