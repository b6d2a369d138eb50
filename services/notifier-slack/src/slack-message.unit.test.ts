import { aCheck, aFinding } from '@secbot/testing';
import type { Finding } from '@secbot/contracts';
import { describe, expect, it } from 'vitest';
import { escapeMrkdwn, renderNothingNewMessage, renderSlackMessage, SLACK_LIMITS, type Announcement, type SlackBlock, type SlackMessageInput } from './slack-message.ts';

const news = (findings: Finding[]): Announcement[] => findings.map((finding) => ({ finding, kind: 'new' }));

function input(overrides: Partial<SlackMessageInput> = {}): SlackMessageInput {
  const check = aCheck({ sha: 'c'.repeat(40) });
  return {
    securityCheckId: check.securityCheckId,
    context: check.context,
    scan: 'gitleaks',
    output: 'builtin',
    announcements: news([aFinding()]),
    renderLimit: 10,
    detailsUrl: 'https://secbot.example.com/v1/security/gitlab/check/GIT_LOCAL_abc/details',
    ...overrides,
  };
}

const allText = (blocks: SlackBlock[]): string =>
  blocks.map((b) => (b.type === 'divider' ? '' : b.type === 'context' ? b.elements.map((e) => e.text).join('\n') : b.text.text)).join('\n');

function expectWithinSlackLimits(blocks: SlackBlock[]): void {
  expect(blocks.length).toBeLessThanOrEqual(SLACK_LIMITS.blocks);
  for (const b of blocks) {
    if (b.type === 'header') expect(b.text.text.length).toBeLessThanOrEqual(SLACK_LIMITS.headerText);
    if (b.type === 'section') expect(b.text.text.length).toBeLessThanOrEqual(SLACK_LIMITS.sectionText);
    if (b.type === 'context') for (const e of b.elements) expect(e.text.length).toBeLessThanOrEqual(SLACK_LIMITS.contextElementText);
  }
  expect(allText(blocks).length).toBeLessThanOrEqual(SLACK_LIMITS.totalBlockText);
}

describe('renderSlackMessage', () => {
  it('links the project, the branch, the commit and the file at the commit, and says who pushed', () => {
    const message = renderSlackMessage(input());

    const text = allText(message.blocks);
    expect(message.blocks[0]).toMatchObject({ type: 'header', text: { type: 'plain_text', text: ':rotating_light: 1 new blocking secret in mike/diaspora' } });
    expect(text).toContain('<http://example.com/mike/diaspora|`mike/diaspora`>');
    expect(text).toContain('*Branch* <http://example.com/mike/diaspora/-/tree/master|`master`>');
    expect(text).toContain(`<http://example.com/mike/diaspora/-/commit/${'c'.repeat(40)}|\`cccccccc\`>`);
    expect(text).toContain('John Smith (`jsmith`)');
    expect(text).toContain(`<http://example.com/mike/diaspora/-/blob/${'a'.repeat(40)}/config/deploy.yml#L3|\`config/deploy.yml:3\`>`);
    expect(text).toContain(':large_orange_circle: *HIGH* · `aws-access-token`');
    expect(text).toContain('<https://secbot.example.com/v1/security/gitlab/check/GIT_LOCAL_abc/details|Check details>');
    expect(message.text).toBe('1 new blocking secret in mike/diaspora (master) pushed by jsmith');
  });

  it('links the merge request and the DefectDojo finding when there is one', () => {
    const check = aCheck();
    const context = {
      ...check.context,
      eventType: 'merge_request' as const,
      mergeRequest: { iid: 7, title: 'Add deploy config', url: 'http://example.com/mike/diaspora/-/merge_requests/7', sourceBranch: 'feature', targetBranch: 'master' },
    };

    const message = renderSlackMessage(input({ context, announcements: news([aFinding({ links: { defectdojo: 'https://dojo.example.com/finding/12' } })]) }));

    const text = allText(message.blocks);
    expect(text).toContain('*Merge request* <http://example.com/mike/diaspora/-/merge_requests/7|!7> Add deploy config (`feature` → `master`)');
    expect(text).toContain('<https://dojo.example.com/finding/12|DefectDojo finding>');
  });

  it('lists the findings by severity, worst first, and marks regressions', () => {
    const announcements: Announcement[] = [
      { finding: aFinding({ fingerprint: 'l', severity: 'low', file: 'a.txt' }), kind: 'new' },
      { finding: aFinding({ fingerprint: 'c', severity: 'critical', file: 'z.txt' }), kind: 'regression' },
      { finding: aFinding({ fingerprint: 'm', severity: 'medium', file: 'b.txt' }), kind: 'new' },
    ];

    const message = renderSlackMessage(input({ announcements }));

    const sections = message.blocks.filter((b) => b.type === 'section').slice(1).map((b) => (b.type === 'section' ? b.text.text : ''));
    expect(sections.map((s) => /\*(\w+)\*/.exec(s)?.[1])).toEqual(['CRITICAL', 'MEDIUM', 'LOW']);
    expect(sections[0]).toContain(':repeat: *regression*');
    expect(sections[1]).not.toContain('regression');
  });

  it('shows at most render_limit findings and counts the rest', () => {
    const findings = Array.from({ length: 25 }, (_, i) => aFinding({ fingerprint: `fp-${i}`, file: `src/file-${String(i).padStart(2, '0')}.ts` }));

    const message = renderSlackMessage(input({ announcements: news(findings), renderLimit: 10 }));

    expect(message.shown).toBe(10);
    expect(allText(message.blocks)).toContain('…and 15 more findings not shown here. <https://secbot.example.com/v1/security/gitlab/check/GIT_LOCAL_abc/details|See them all>');
    expectWithinSlackLimits(message.blocks);
  });

  it.each([
    ['a thousand findings and the largest render_limit', 1000, 45, 'x'.repeat(20)],
    ['findings with enormous paths and descriptions', 60, 45, 'deep/'.repeat(400)],
  ])('stays within Slack limits with %s', (_label, count, renderLimit, dir) => {
    const findings = Array.from({ length: count }, (_, i) =>
      aFinding({ fingerprint: `fp-${i}`, file: `${dir}/secret-${i}.env`, description: 'd'.repeat(5000), ruleId: 'r'.repeat(500) }),
    );

    const message = renderSlackMessage(input({ announcements: news(findings), renderLimit }));

    expectWithinSlackLimits(message.blocks);
    expect(message.shown).toBeGreaterThan(0);
    expect(allText(message.blocks)).toContain(`…and ${count - message.shown} more findings`);
    expect(message.text.length).toBeLessThanOrEqual(SLACK_LIMITS.fallbackText + 50);
  });

  it('escapes hostile file names: no mention, no link, no markup leaks out', () => {
    const hostile = aFinding({
      file: '<!channel> & <@U123|boss> *bold* _it_ ~strike~ `code` @here <https://evil.example|click>.txt',
      description: 'Ping <!everyone> and @channel *now*',
      ruleId: 'rule`with`ticks',
    });
    const check = aCheck();
    const context = { ...check.context, user: { username: 'mallory', name: '<!here> Mallory *admin*' } };

    const message = renderSlackMessage(input({ context, announcements: news([hostile]) }));

    const text = `${allText(message.blocks)}\n${message.text}`;
    expect(text).not.toMatch(/<!(channel|here|everyone)/);
    expect(text).not.toContain('<@U123');
    expect(text).not.toContain('<https://evil.example');
    expect(text).not.toMatch(/(^|[^\u200b])@(channel|here|everyone)/m);
    expect(text).toContain('&lt;!channel&gt; &amp; &lt;@U123|boss&gt;');
    // The file name is inline code (markup is literal there), its own backticks cannot close it.
    expect(text).toContain('|`&lt;!channel&gt; &amp; &lt;@U123|boss&gt; *bold* _it_ ~strike~ ˋcodeˋ @\u200bhere');
    expect(text).toContain('`ruleˋwithˋticks`');
    // Free text cannot bold or strike the rest of the message.
    expect(text).toContain('Ping &lt;!everyone&gt; and @\u200bchannel ∗now∗');
    expect(text).toContain('&lt;!here&gt; Mallory ∗admin∗');
    // The link to the file is percent-encoded, so the name cannot end the link early.
    expect(text).toMatch(/<http:\/\/example\.com\/mike\/diaspora\/-\/blob\/a{40}\/%3C!channel%3E%20%26%20%3C%40U123%7Cboss%3E[^|>\s]*\|/);
  });

  it('never renders anything but the redacted finding fields (no secret field exists to leak)', () => {
    const finding = { ...aFinding(), secret: 'AKIAABCDEFGHIJKLMNOP', match: 'aws_key = AKIAABCDEFGHIJKLMNOP' } as Finding;

    const message = renderSlackMessage(input({ announcements: news([finding]) }));

    expect(JSON.stringify(message)).not.toContain('AKIAABCDEFGHIJKLMNOP');
  });

  it('strips control characters so a file name cannot start a new line of markup', () => {
    expect(escapeMrkdwn('a\nb\r\n> quote\u0000')).toBe('a b &gt; quote ');
  });
});

describe('renderNothingNewMessage', () => {
  it('says nothing new blocks, within limits', () => {
    const check = aCheck();

    const message = renderNothingNewMessage({ securityCheckId: check.securityCheckId, context: check.context, scan: 'gitleaks', output: 'builtin', blocking: 2 });

    expect(message.text).toBe('Nothing new blocks in mike/diaspora (2 already announced) (master)');
    expectWithinSlackLimits(message.blocks);
  });
});
