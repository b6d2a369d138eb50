import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { IntakeSettings } from '../../services/intake/src/config.ts';
import { OutputBuiltinSettings } from '../../services/output-builtin/src/service.ts';
import { OutputDefectDojoSettings } from '../../services/output-defectdojo/src/config.ts';
import { NotifierGitLabSettings } from '../../services/notifier-gitlab/src/config.ts';
import { NotifierSlackSettings } from '../../services/notifier-slack/src/config.ts';
import { ResultsSettings } from '../../services/results/src/config.ts';
import { ScannerSettings } from '../../services/scanner-gitleaks/src/config.ts';

const doc = readFileSync(new URL('../../docs/configuration.md', import.meta.url), 'utf8');

describe('docs/configuration.md', () => {
  it.each([
    ['intake', IntakeSettings],
    ['results', ResultsSettings],
    ['scanner-gitleaks', ScannerSettings],
    ['output-builtin', OutputBuiltinSettings],
    ['output-defectdojo', OutputDefectDojoSettings],
    ['notifier-slack', NotifierSlackSettings],
    ['notifier-gitlab', NotifierGitLabSettings],
  ] as const)('lists every setting %s reads', (_service, schema: z.ZodObject) => {
    const missing = Object.keys(schema.shape).filter((name) => !doc.includes(`\`${name}\``));

    expect(missing).toEqual([]);
  });
});
