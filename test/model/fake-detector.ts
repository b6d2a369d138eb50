import type { Detector } from '../../services/scanner-gitleaks/src/evaluate.ts';
import type { GitleaksReportFinding } from '../../services/scanner-gitleaks/src/findings.ts';
import { gitRun } from './git.ts';
import { KEY_PATTERN } from './random.ts';

export const FAKE_RULE = 'aws-access-token';

/**
 * A fast stand-in for gitleaks in git mode: the same `git log -p -U0 <logOpts>` gitleaks runs, and a finding
 * for every added line (`+`, not the `+++` header) holding a planted key, with the file of the `+++ b/<path>`
 * header, the line from the hunk header and the commit of the log entry. Like gitleaks it sees only what the
 * log options show: were the evaluation to drop `--remerge-diff`, a key planted in a conflict resolution would
 * go unseen here too.
 */
export function fakeDetector(): Detector {
  return {
    async detect(dir, logOpts) {
      const r = await gitRun(dir, ['log', '-p', '-U0', '--no-color', '--no-ext-diff', '--format=COMMIT:%H', ...logOpts]);
      if (r.code !== 0) return { status: 'error', reason: `git log failed: ${r.stderr.trim().slice(0, 300)}` };
      return { status: 'ok', findings: addedKeys(r.stdout) };
    },
  };
}

export function addedKeys(log: string): GitleaksReportFinding[] {
  const findings: GitleaksReportFinding[] = [];
  let commit = '';
  let file: string | null = null;
  let inHunk = false;
  let line = 0;
  for (const text of log.split('\n')) {
    if (text.startsWith('COMMIT:')) {
      commit = text.slice('COMMIT:'.length).trim();
      file = null;
      inHunk = false;
    } else if (text.startsWith('diff --git ')) {
      file = null;
      inHunk = false;
    } else if (text.startsWith('@@')) {
      const m = /^@@ -\d+(?:,\d+)? \+(\d+)(?:,\d+)? @@/.exec(text);
      if (!m) throw new Error(`unexpected hunk header: ${text}`);
      line = Number(m[1]);
      inHunk = true;
    } else if (!inHunk) {
      // The file header; a remerge diff adds a `remerge CONFLICT ...` line to it, which changes nothing here.
      if (text.startsWith('+++ ')) {
        const path = text.slice(4);
        file = path === '/dev/null' ? null : path.replace(/^b\//, '');
      }
    } else if (text.startsWith('+')) {
      for (const m of text.slice(1).matchAll(KEY_PATTERN)) {
        if (!file || !commit) throw new Error(`an added line outside a file or commit: ${text}`);
        findings.push({
          RuleID: FAKE_RULE,
          Description: 'planted model key',
          StartLine: line,
          EndLine: line,
          Match: m[0],
          Secret: m[0],
          File: file,
          Commit: commit,
          Author: '',
          Email: '',
          Date: '',
          Tags: [],
        });
      }
      line++;
    }
  }
  return findings;
}
