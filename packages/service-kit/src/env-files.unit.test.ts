import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadEnvironment, parseEnvFile } from './env-files.ts';

describe('env files', () => {
  it('reads plain, quoted, commented and multi-line JSON values', () => {
    const text = [
      '# comment',
      'A=1',
      'B = two words # trailing comment',
      "C='single # not a comment'",
      'D="double \\"quoted\\""',
      'GITLAB_CONFIGS=[',
      '  {"host": "https://git.env.local/", "prefix": "GIT_LOCAL"}',
      ']',
      'export E=exported',
    ].join('\n');

    const env = parseEnvFile(text);

    expect(env).toEqual({
      A: '1',
      B: 'two words',
      C: 'single # not a comment',
      D: 'double "quoted"',
      GITLAB_CONFIGS: '[\n  {"host": "https://git.env.local/", "prefix": "GIT_LOCAL"}\n]',
      E: 'exported',
    });
    expect(JSON.parse(env['GITLAB_CONFIGS']!)).toEqual([{ host: 'https://git.env.local/', prefix: 'GIT_LOCAL' }]);
  });

  it('lets .env.override win over .env.dev, and the process environment over both', () => {
    const dir = mkdtempSync(join(tmpdir(), 'secbot-env-'));
    writeFileSync(join(dir, '.env.dev'), 'A=dev\nB=dev\nC=dev\n');
    writeFileSync(join(dir, '.env.override'), 'B=override\nC=override\n');

    const env = loadEnvironment(dir, { C: 'process' });

    expect([env['A'], env['B'], env['C']]).toEqual(['dev', 'override', 'process']);
  });
});
