import { aCheck, aFinding } from '@secbot/testing';
import { describe, expect, it } from 'vitest';
import { neutraliseQuickActions, noteMarker, noteWasFailing, renderNote, NOTE_FINDINGS } from './merge-request-note.ts';
import type { Verdict } from './verdict.ts';

const check = aCheck({ sha: 'd'.repeat(40) });
const failed = (blocking = [aFinding()]): Verdict => ({ state: 'failed', description: '', blocking, blockingCount: blocking.length, errors: [] });
const success: Verdict = { state: 'success', description: '', blocking: [], blockingCount: 0, errors: [] };

describe('renderNote', () => {
  it('starts with the hidden marker and lists the blocking findings linked to the commit', () => {
    const body = renderNote({ notifier: 'gitlab', context: check.context, verdict: failed([aFinding({ links: { defectdojo: 'https://dojo.example.com/finding/3' } })]), wasFailing: false, detailsUrl: 'https://secbot.example.com/d' });

    expect(body.split('\n')[0]).toBe(noteMarker('gitlab'));
    expect(body).toContain('### :no_entry: SecBot: 1 blocking secret');
    expect(body).toContain(`| HIGH | \`aws-access-token\` | [\`config/deploy.yml:3\`](http://example.com/mike/diaspora/-/blob/${'a'.repeat(40)}/config/deploy.yml#L3) | [DefectDojo](https://dojo.example.com/finding/3) |`);
    expect(body).toContain('[details](https://secbot.example.com/d)');
  });

  it('says everything is resolved once what it reported no longer blocks', () => {
    const before = renderNote({ notifier: 'gitlab', context: check.context, verdict: failed(), wasFailing: false });

    const after = renderNote({ notifier: 'gitlab', context: check.context, verdict: success, wasFailing: noteWasFailing(before) });

    expect(after).toContain('### :white_check_mark: SecBot: everything is resolved');
    expect(noteWasFailing(after)).toBe(true);
  });

  it('lists at most NOTE_FINDINGS findings and counts the rest', () => {
    const many = Array.from({ length: 30 }, (_, i) => aFinding({ fingerprint: `f${i}`, file: `f${i}.env` }));

    const body = renderNote({ notifier: 'gitlab', context: check.context, verdict: failed(many), wasFailing: false });

    expect(body.split('\n').filter((l) => l.startsWith('| HIGH'))).toHaveLength(NOTE_FINDINGS);
    expect(body).toContain(`…and ${30 - NOTE_FINDINGS} more`);
  });

  it('keeps hostile file names inert: no quick action, no mention, no table break, no HTML', () => {
    const hostile = aFinding({ file: '/merge\n/approve @all | <img src=x onerror=alert(1)> `x`.txt', ruleId: 'r|u`le' });

    const body = renderNote({ notifier: 'gitlab', context: check.context, verdict: failed([hostile]), wasFailing: false });

    expect(body.split('\n').some((l) => /^\s*\//.test(l))).toBe(false);
    expect(body).toContain('[`/merge /approve @all \\| <img src=x onerror=alert(1)> ˋxˋ.txt:3`]');
    expect(body).toContain('`r\\|uˋle`');
    expect(body).toContain('%3Cimg%20src%3Dx%20onerror%3Dalert%281%29%3E');
  });

  it('escapes error reasons that would otherwise be read as Markdown, mentions or quick actions', () => {
    const verdict: Verdict = { state: 'failed', description: '', blocking: [], blockingCount: 0, errors: ['/close it @maintainers <b>now</b> [x](javascript:1)'] };

    const body = renderNote({ notifier: 'gitlab', context: check.context, verdict, wasFailing: false });

    expect(body).toContain('- /close it @\u200bmaintainers \\<b\\>now\\</b\\> \\[x\\]\\(javascript:1\\)');
  });
});

describe('neutraliseQuickActions', () => {
  it('makes every line that starts with a slash start with something else', () => {
    expect(neutraliseQuickActions('ok\n/merge\n  /close')).toBe('ok\n\u200b/merge\n\u200b  /close');
  });
});
