import type { CheckContext, Finding } from '@secbot/contracts';
import { truncate, type Verdict } from './verdict.ts';

/** The hidden marker that identifies SecBot's note on a merge request (one per notifier component). */
export const noteMarker = (notifier: string): string => `<!-- secbot:merge-request-note:${notifier.replace(/[^A-Za-z0-9_-]/g, '_')} -->`;

/** How many findings the note lists before "N more". */
export const NOTE_FINDINGS = 20;

/**
 * Text from a repository (file names, rules, descriptions) made inert in GitLab Markdown: inside a code span
 * nothing is parsed (no mention, no HTML, no link), the code span cannot be closed early (backticks
 * replaced), a table cell cannot be split (`|` escaped) and nothing can start a line.
 */
export function codeSpan(text: string, max = 200): string {
  const inner = truncate(text, max).replace(/\p{Cc}+/gu, ' ').replace(/`/g, 'ˋ').replace(/\|/g, '\\|');
  return `\`${inner.trim() === '' ? ' ' : inner}\``;
}

/** Plain prose from outside (descriptions, reasons): Markdown and HTML characters escaped, mentions and references broken. */
export function inlineText(text: string, max = 300): string {
  return truncate(text, max)
    .replace(/\p{Cc}+/gu, ' ')
    .replace(/[\\`*_{}[\]()#+!<>|~$]/g, (c) => `\\${c}`)
    .replace(/&/g, '&amp;')
    .replace(/([@%^])(?=\S)/g, '$1\u200b');
}

/**
 * GitLab runs quick actions (`/merge`, `/approve`, `/close` …) from lines that start with `/`, even in
 * notes written through the API (doc/user/project/quick_actions.md). No line of ours may start with one.
 */
export function neutraliseQuickActions(body: string): string {
  return body
    .split('\n')
    .map((line) => (/^\s*\//.test(line) ? `\u200b${line}` : line))
    .join('\n');
}

const encodePath = (path: string) => path.split('/').map(encodeURIComponent).join('/').replace(/\(/g, '%28').replace(/\)/g, '%29');
const url = (u: string) => u.replace(/\(/g, '%28').replace(/\)/g, '%29').replace(/\s/g, '%20');

function fileUrl(context: CheckContext, f: Finding): string {
  const sha = /^[0-9a-f]{40,64}$/.test(f.commit) ? f.commit : context.commit.sha;
  return `${context.project.webUrl.replace(/\/+$/, '')}/-/blob/${sha}/${encodePath(f.file)}#L${f.startLine}`;
}

export interface NoteInput {
  notifier: string;
  context: CheckContext;
  verdict: Verdict;
  detailsUrl?: string;
  /** true when an earlier version of the note reported blocking findings or errors. */
  wasFailing: boolean;
}

/**
 * The body of SecBot's one note on a merge request: the marker, the verdict for the MR's latest checked commit,
 * its blocking findings (worst first, at most NOTE_FINDINGS), and when everything is resolved, says so.
 * Never a secret (findings carry none).
 */
export function renderNote(input: NoteInput): string {
  const { context, verdict } = input;
  const commit = `[\`${context.commit.sha.slice(0, 8)}\`](${url(context.commit.url ?? `${context.project.webUrl.replace(/\/+$/, '')}/-/commit/${context.commit.sha}`)})`;
  const details = input.detailsUrl ? ` · [details](${url(input.detailsUrl)})` : '';
  const lines: string[] = [noteMarker(input.notifier)];
  if (verdict.state === 'success') {
    lines.push(
      input.wasFailing ? '### :white_check_mark: SecBot: everything is resolved' : '### :white_check_mark: SecBot: no blocking secrets',
      '',
      `${input.wasFailing ? 'No secret blocks this merge request any more' : 'Nothing blocks this merge request'} as of ${commit}${details}.`,
    );
  } else if (verdict.blockingCount > 0) {
    const n = verdict.blockingCount;
    lines.push(
      `### :no_entry: SecBot: ${n} blocking secret${n === 1 ? '' : 's'}`,
      '',
      `As of ${commit}${details}. Remove the secret from the history and rotate it, or have it triaged (false positive, accepted risk).`,
      '',
      '| Severity | Rule | Location | Links |',
      '| --- | --- | --- | --- |',
      ...verdict.blocking.slice(0, NOTE_FINDINGS).map((f) => {
        const links = [f.links['defectdojo'] ? `[DefectDojo](${url(f.links['defectdojo'])})` : undefined].filter((x) => x !== undefined).join(' ');
        return `| ${f.severity.toUpperCase()} | ${codeSpan(f.ruleId, 100)} | [${codeSpan(`${f.file}:${f.startLine}`, 200)}](${url(fileUrl(context, f))}) | ${links || ' '} |`;
      }),
    );
    if (n > Math.min(NOTE_FINDINGS, verdict.blocking.length)) lines.push('', `…and ${n - Math.min(NOTE_FINDINGS, verdict.blocking.length)} more${details ? `, see the${details.replace(' · ', ' ')}` : ''}.`);
  } else if (verdict.state === 'failed') {
    lines.push('### :warning: SecBot could not check this change', '', `As of ${commit}${details}:`, '', ...verdict.errors.slice(0, 10).map((e) => `- ${inlineText(e)}`));
  } else {
    lines.push('### :hourglass: SecBot is checking this change', '', `Commit ${commit}${details}.`);
  }
  return neutraliseQuickActions(lines.join('\n'));
}

/** Whether our note (from an earlier push) reported something blocking or failing, or already said it is resolved. */
export const noteWasFailing = (body: string): boolean => /^### :(no_entry|warning):|^### :white_check_mark: SecBot: everything is resolved/m.test(body);
