import { describe, expect, it } from 'vitest';
import { ConfigError } from './errors.ts';
import { parsePolicy } from './policy.ts';

const valid = `
version: "1.0"
components:
  gitleaks: { handler_name: gitleaks, config: { format: json } }
  defectdojo:
    handler_name: defectdojo
    env: { url: DD_URL, secret_key: DD_TOKEN }
  slack: { handler_name: slack, env: { token: SLACK_TOKEN } }
jobs:
  - name: mrs
    rules:
      gitlab:
        event_type: merge_request
        project.path_with_namespace: "gitlab-test/.*"
    scans: [gitleaks]
    outputs: [defectdojo]
    notifications: [slack]
`;

function problemsOf(text: string, env: Record<string, string> = {}, requireEnv = true): string[] {
  try {
    parsePolicy(text, 'config.yml', { env, requireEnvFor: requireEnv ? () => true : undefined });
    return [];
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
}

describe('config.yml', () => {
  it('reads components and jobs with their rules as full-match regexes', () => {
    const policy = parsePolicy(valid, 'config.yml', { env: { DD_URL: 'u', DD_TOKEN: 't', SLACK_TOKEN: 's' }, requireEnvFor: () => true });

    const job = policy.jobs[0]!;
    expect(job.scans.map((c) => c.name)).toEqual(['gitleaks']);
    expect(job.notifiers.map((c) => c.kind)).toEqual(['notifier']);
    const rule = job.rules['gitlab']!.find((r) => r.path === 'project.path_with_namespace')!;
    expect(rule.pattern.test('gitlab-test/app')).toBe(true);
    expect(rule.pattern.test('x/gitlab-test/app')).toBe(false);
  });

  it('lists every problem at once, each with file and path', () => {
    const problems = problemsOf(`
version: "1.0"
components:
  gitleaks: { handler_name: gitleaks }
  mystery: { handler_name: trufflehog }
  slack: { handler_name: slack, env: { token: SLACK_TOKEN } }
jobs:
  - name: a
    rules: { gitlab: { project.path_with_namespace: "([unclosed" } }
    scans: [gitleaks, nosuch]
    outputs: [slack]
    notifications: [slack]
  - name: a
    rules: { bitbucket: { event_type: push } }
    scans: [gitleaks]
    outputs: [gitleaks]
`);

    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^config\.yml: components\.mystery\.handler_name: unknown handler "trufflehog"/),
        expect.stringMatching(/jobs\.0\.rules\.gitlab\.project\.path_with_namespace: is not a valid regular expression/),
        expect.stringMatching(/jobs\.0\.scans\.1: unknown component "nosuch"/),
        expect.stringMatching(/jobs\.0\.outputs\.0: component "slack" is a notifier, not a output/),
        expect.stringMatching(/jobs\.1\.name: "a" is used by two jobs/),
        expect.stringMatching(/jobs\.1\.rules\.bitbucket: unknown input/),
        expect.stringMatching(/jobs\.1\.outputs\.0: component "gitleaks" is a scan, not a output/),
        expect.stringMatching(/components\.slack\.env\.token: environment variable SLACK_TOKEN is not set/),
      ]),
    );
    expect(problems).toHaveLength(8);
  });

  it('reports an unset env variable of a used component as an error, not a silent null', () => {
    expect(problemsOf(valid, { DD_URL: 'u', SLACK_TOKEN: 's' })).toEqual([
      'config.yml: components.defectdojo.env.secret_key: environment variable DD_TOKEN is not set',
    ]);
  });

  it('does not require env variables when the service does not run that component', () => {
    expect(problemsOf(valid, {}, false)).toEqual([]);
  });

  it.each([
    ['a YAML syntax error', 'version: "1.0"\ncomponents: [\n', /YAML/],
    ['a wrong version', 'version: "2"\ncomponents: {}\njobs: []\n', /version: must be "1.0"/],
    ['no jobs', 'version: "1.0"\ncomponents: {}\njobs: []\n', /jobs: must list at least one job/],
    ['an unknown top-level key', 'version: "1.0"\ncomponents: {}\njobs: []\nextra: 1\n', /Unrecognized key/],
    ['duplicate rule keys', 'version: "1.0"\ncomponents: {}\njobs:\n  - name: a\n    rules: { gitlab: { event_type: push, event_type: tag_push } }\n    scans: [x]\n    outputs: [y]\n', /YAML/],
  ])('refuses %s', (_name, text, pattern) => {
    expect(problemsOf(text).join('\n')).toMatch(pattern);
  });

  it('accepts a custom handler served by a new subscriber service when its kind is given', () => {
    const text = valid.replace('gitleaks: { handler_name: gitleaks, config: { format: json } }', 'gitleaks: { handler_name: semgrep, kind: scan }');

    expect(problemsOf(text, { DD_URL: 'u', DD_TOKEN: 't', SLACK_TOKEN: 's' })).toEqual([]);
  });
});
