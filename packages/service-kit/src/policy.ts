import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import { z } from 'zod';
import { ConfigError } from './errors.ts';
import { DEV_SECRET_PROBLEM, devSecretSettings } from './dev-secrets.ts';

export type ComponentKind = 'scan' | 'output' | 'notifier';

/** Handlers SecBot ships. A component with another handler must say its `kind` (a new subscriber service). */
export const KNOWN_HANDLERS: Readonly<Record<string, ComponentKind>> = {
  gitleaks: 'scan',
  defectdojo: 'output',
  builtin: 'output',
  slack: 'notifier',
  gitlab: 'notifier',
};

const Component = z.strictObject({
  handler_name: z.string().min(1),
  kind: z.enum(['scan', 'output', 'notifier']).optional(),
  config: z.record(z.string(), z.unknown()).default({}),
  /** Setting name → environment variable that holds it (secrets never live in config.yml). */
  env: z.record(z.string(), z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must name an environment variable')).default({}),
});

const RuleValue = z.union([z.string(), z.number(), z.boolean()]).transform(String);

const Job = z.strictObject({
  name: z.string().min(1),
  /** input (e.g. `gitlab`) → dotted JSON path → regex that must match the whole value; all AND-ed. */
  rules: z.record(z.string(), z.record(z.string(), RuleValue)),
  scans: z.array(z.string()).min(1, 'must list at least one scan'),
  outputs: z.array(z.string()).min(1, 'must list at least one output'),
  notifications: z.array(z.string()).default([]),
});

const PolicyFile = z.strictObject({
  version: z.union([z.literal('1.0'), z.literal(1), z.literal('1')], { error: 'must be "1.0"' }),
  components: z.record(z.string().regex(/^[A-Za-z0-9_-]+$/, 'component names: letters, digits, _ and -'), Component),
  jobs: z.array(Job).min(1, 'must list at least one job'),
});

export interface PolicyComponent {
  name: string;
  handler: string;
  kind: ComponentKind;
  config: Record<string, unknown>;
  env: Record<string, string>;
}

export interface PolicyRule {
  path: string;
  pattern: RegExp;
  source: string;
}

export interface PolicyJob {
  name: string;
  rules: Record<string, PolicyRule[]>;
  scans: PolicyComponent[];
  outputs: PolicyComponent[];
  notifiers: PolicyComponent[];
}

export interface Policy {
  file: string;
  components: Record<string, PolicyComponent>;
  jobs: PolicyJob[];
}

export interface LoadPolicyOptions {
  /** Components whose `env` variables must be set in this service (e.g. the handlers it runs). */
  requireEnvFor?: (component: PolicyComponent) => boolean;
  env?: Record<string, string | undefined>;
}

/** Reads config.yml; throws a ConfigError listing every problem with its file and path. */
export function loadPolicy(path: string, options: LoadPolicyOptions = {}): Policy {
  const file = isAbsolute(path) ? path : resolve(process.cwd(), path);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`Policy ${file}`, [`cannot be read: ${(err as NodeJS.ErrnoException).code ?? String(err)}`]);
  }
  return parsePolicy(text, file, options);
}

export function parsePolicy(text: string, file: string, options: LoadPolicyOptions = {}): Policy {
  const problems: string[] = [];
  const at = (path: (string | number)[], message: string) =>
    problems.push(`${file}: ${path.length ? path.join('.') : '(root)'}: ${message}`);

  const doc = parseDocument(text, { prettyErrors: true });
  for (const e of doc.errors) problems.push(`${file}: YAML: ${e.message.split('\n')[0] ?? e.message}`);
  if (problems.length) throw new ConfigError(`Policy ${file}`, problems);

  const parsed = PolicyFile.safeParse(doc.toJS());
  if (!parsed.success) {
    for (const i of parsed.error.issues) at(i.path.map((p) => (typeof p === 'symbol' ? String(p) : p)), i.message);
    throw new ConfigError(`Policy ${file}`, problems);
  }

  const env = options.env ?? process.env;
  const components: Record<string, PolicyComponent> = {};
  for (const [name, c] of Object.entries(parsed.data.components)) {
    const known = KNOWN_HANDLERS[c.handler_name];
    const kind = c.kind ?? known;
    if (!kind) {
      at(['components', name, 'handler_name'], `unknown handler "${c.handler_name}": add kind: scan|output|notifier for a handler served by your own service`);
      continue;
    }
    if (known && c.kind && c.kind !== known) at(['components', name, 'kind'], `handler "${c.handler_name}" is a ${known}, not a ${c.kind}`);
    components[name] = { name, handler: c.handler_name, kind, config: c.config, env: c.env };
  }

  const used = new Set<string>();
  const jobs: PolicyJob[] = [];
  const names = new Set<string>();
  for (const [j, job] of parsed.data.jobs.entries()) {
    if (names.has(job.name)) at(['jobs', j, 'name'], `"${job.name}" is used by two jobs`);
    names.add(job.name);
    const rules: Record<string, PolicyRule[]> = {};
    if (Object.keys(job.rules).length === 0) at(['jobs', j, 'rules'], 'must name at least one input (e.g. gitlab)');
    for (const [input, byPath] of Object.entries(job.rules)) {
      if (input !== 'gitlab') at(['jobs', j, 'rules', input], 'unknown input: only "gitlab" is supported');
      rules[input] = [];
      for (const [rulePath, source] of Object.entries(byPath)) {
        try {
          rules[input].push({ path: rulePath, pattern: new RegExp(`^(?:${source})$`, 'u'), source });
        } catch (err) {
          at(['jobs', j, 'rules', input, rulePath], `is not a valid regular expression (${(err as Error).message})`);
        }
      }
    }
    const pick = (list: string[], key: string, kind: ComponentKind): PolicyComponent[] =>
      list.flatMap((name, k) => {
        const c = components[name];
        if (!c) {
          if (!(name in parsed.data.components)) at(['jobs', j, key, k], `unknown component "${name}"`);
          return [];
        }
        if (c.kind !== kind) {
          at(['jobs', j, key, k], `component "${name}" is a ${c.kind}, not a ${kind}`);
          return [];
        }
        used.add(name);
        return [c];
      });
    jobs.push({
      name: job.name,
      rules,
      scans: pick(job.scans, 'scans', 'scan'),
      outputs: pick(job.outputs, 'outputs', 'output'),
      notifiers: pick(job.notifications, 'notifications', 'notifier'),
    });
  }

  const requireEnv = options.requireEnvFor;
  if (requireEnv) {
    for (const name of used) {
      const c = components[name];
      if (!c || !requireEnv(c)) continue;
      for (const [setting, variable] of Object.entries(c.env)) {
        const value = env[variable];
        if (value === undefined || value === '') at(['components', name, 'env', setting], `environment variable ${variable} is not set`);
        else if (env['SECBOT_ENV'] !== 'development' && devSecretSettings({ [variable]: value }).length) {
          at(['components', name, 'env', setting], `${variable}: ${DEV_SECRET_PROBLEM}`);
        }
      }
    }
  }

  if (problems.length) throw new ConfigError(`Policy ${file}`, problems);
  return { file, components, jobs };
}

/** Resolves a component's `env` map to values; call after loadPolicy checked they are set. */
export function componentSecrets(component: PolicyComponent, env: Record<string, string | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [setting, variable] of Object.entries(component.env)) {
    const v = env[variable];
    if (v === undefined || v === '') throw new ConfigError(`Component ${component.name}`, [`environment variable ${variable} is not set`]);
    out[setting] = v;
  }
  return out;
}
