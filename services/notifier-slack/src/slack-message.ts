import type { CheckContext, Finding } from '@secbot/contracts';

/** A finding the notifier tells people about: first time for this project, or back after it was closed. */
export interface Announcement {
  finding: Finding;
  kind: 'new' | 'regression';
}

export interface SlackMessageInput {
  securityCheckId: string;
  context: CheckContext;
  scan: string;
  output: string;
  announcements: readonly Announcement[];
  /** The component's `render_limit`: findings listed before "N more". */
  renderLimit: number;
  /** The results detail view of this check (RESULTS_PUBLIC_URL), when one is configured. */
  detailsUrl?: string;
}

interface TextObject {
  type: 'plain_text' | 'mrkdwn';
  text: string;
  emoji?: boolean;
  verbatim?: boolean;
}
export type SlackBlock =
  | { type: 'header'; text: TextObject }
  | { type: 'section'; text: TextObject }
  | { type: 'context'; elements: TextObject[] }
  | { type: 'divider' };

export interface SlackMessage {
  /** The notification and screen-reader fallback; Slack shows it where blocks cannot be shown. */
  text: string;
  blocks: SlackBlock[];
  /** Findings listed in the blocks; the rest are counted in "N more". */
  shown: number;
}

/** Slack's documented limits (docs.slack.dev/reference/block-kit/blocks), with a margin on the total. */
export const SLACK_LIMITS = {
  blocks: 50,
  sectionText: 3000,
  headerText: 150,
  contextElementText: 3000,
  /** `msg_blocks_too_long` has been seen near 13k characters of block text (slackapi/bolt-js#2509). */
  totalBlockText: 11_000,
  fallbackText: 300,
} as const;

/** Header, summary, divider, "N more" and footer leave this many blocks for findings. */
const MAX_FINDING_BLOCKS = SLACK_LIMITS.blocks - 5;

const SEVERITY_ORDER: Record<Finding['severity'], number> = { critical: 0, high: 1, medium: 2, low: 3, info: 4 };
const SEVERITY_MARK: Record<Finding['severity'], string> = {
  critical: ':red_circle:',
  high: ':large_orange_circle:',
  medium: ':large_yellow_circle:',
  low: ':large_blue_circle:',
  info: ':white_circle:',
};

/** Cuts a string to `max` characters (code points), marking the cut with an ellipsis. */
export function truncate(text: string, max: number): string {
  const chars = [...text];
  return chars.length <= max ? text : `${chars.slice(0, Math.max(0, max - 1)).join('')}…`;
}

const controlChars = (text: string) => text.replace(/\p{Cc}+/gu, ' ');

/**
 * Makes text from a repository or a user inert in Slack mrkdwn: `&`, `<`, `>` become entities (so
 * `<!channel>`, `<@U…>` and `<url|label>` cannot be injected), and bare `@channel`/`@here`/`@everyone`
 * get a zero-width space after the `@` so no client ever links them.
 * (docs.slack.dev/messaging/formatting-message-text#escaping)
 */
export function escapeMrkdwn(text: string): string {
  return controlChars(text)
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/@(channel|here|everyone)\b/gi, '@\u200b$1');
}

/**
 * Free text (descriptions, titles, names): escaped, and the markers Slack cannot escape (`*`, `~`, a
 * backtick) replaced by look-alikes, so a title cannot bold or strike the rest of the message.
 */
export function inlineText(text: string, max: number): string {
  return escapeMrkdwn(truncate(text, max)).replace(/\*/g, '\u2217').replace(/~/g, '\u223c').replace(/`/g, '\u02cb');
}

/** Identifiers (file names, rules, branches) as inline code, where `*`, `_` and `~` are literal. */
export function inlineCode(text: string, max: number): string {
  const inner = escapeMrkdwn(truncate(text, max)).replace(/`/g, '\u02cb');
  return `\`${inner.trim() === '' ? '\u00a0' : inner}\``;
}

/** A URL safe inside `<url|label>`: no `|`, `<`, `>` and `&` as an entity. */
function linkUrl(url: string): string {
  return url.replace(/\|/g, '%7C').replace(/</g, '%3C').replace(/>/g, '%3E').replace(/\s/g, '%20').replace(/&/g, '&amp;');
}

const link = (url: string | undefined, label: string) => (url ? `<${linkUrl(url)}|${label}>` : label);

const encodePath = (path: string) => path.split('/').map(encodeURIComponent).join('/');
const baseOf = (webUrl: string) => webUrl.replace(/\/+$/, '');

/** Where the finding is, at the commit that added it, in GitLab's web UI. */
export function fileUrl(context: CheckContext, finding: Finding): string {
  const sha = /^[0-9a-f]{40,64}$/.test(finding.commit) ? finding.commit : context.commit.sha;
  return `${baseOf(context.project.webUrl)}/-/blob/${sha}/${encodePath(finding.file)}#L${finding.startLine}`;
}

const shortSha = (sha: string) => sha.slice(0, 8);
const pluralS = (n: number) => (n === 1 ? '' : 's');

/** Severity first (critical … info), then file and line, so the worst is always on top. */
export function sortForDisplay(announcements: readonly Announcement[]): Announcement[] {
  return [...announcements].sort(
    (a, b) =>
      SEVERITY_ORDER[a.finding.severity] - SEVERITY_ORDER[b.finding.severity] ||
      a.finding.file.localeCompare(b.finding.file) ||
      a.finding.startLine - b.finding.startLine ||
      a.finding.ruleId.localeCompare(b.finding.ruleId),
  );
}

function where(context: CheckContext): { label: string; line: string } {
  const base = baseOf(context.project.webUrl);
  const range = context.range;
  if (range.kind === 'merge_request' || context.mergeRequest) {
    const iid = context.mergeRequest?.iid ?? (range.kind === 'merge_request' ? range.iid : 0);
    const url = context.mergeRequest?.url ?? `${base}/-/merge_requests/${iid}`;
    const title = context.mergeRequest?.title ? ` ${inlineText(context.mergeRequest.title, 150)}` : '';
    const source = context.mergeRequest?.sourceBranch ?? (range.kind === 'merge_request' ? range.sourceBranch : '');
    const target = context.mergeRequest?.targetBranch ?? (range.kind === 'merge_request' ? range.targetBranch : '');
    return {
      label: `!${iid}`,
      line: `*Merge request* ${link(url, `!${iid}`)}${title} (${inlineCode(source, 100)} → ${inlineCode(target, 100)})`,
    };
  }
  if (range.kind === 'tag') {
    return { label: range.tag, line: `*Tag* ${link(`${base}/-/tags/${encodeURIComponent(range.tag)}`, inlineCode(range.tag, 150))}` };
  }
  const branch = range.ref.replace(/^refs\/heads\//, '');
  return { label: branch, line: `*Branch* ${link(`${base}/-/tree/${encodePath(branch)}`, inlineCode(branch, 150))}` };
}

function who(context: CheckContext): string {
  const { name, username } = context.user;
  if (name && username) return `${inlineText(name, 100)} (${inlineCode(username, 100)})`;
  if (username) return inlineCode(username, 100);
  if (name) return inlineText(name, 100);
  return 'someone';
}

function findingSection(input: SlackMessageInput, a: Announcement): string {
  const f = a.finding;
  const lines = f.endLine > f.startLine ? `${f.startLine}-${f.endLine}` : String(f.startLine);
  const url = fileUrl(input.context, f);
  // A path so long that its link would not fit is shown without one (the label still says where).
  const location = link(url.length <= 1500 ? url : undefined, inlineCode(`${f.file}:${lines}`, 300));
  const regression = a.kind === 'regression' ? ' · :repeat: *regression* (was closed, is back)' : '';
  const more = [
    f.links['defectdojo'] ? link(f.links['defectdojo'], 'DefectDojo finding') : undefined,
    input.detailsUrl ? link(input.detailsUrl, 'Check details') : undefined,
  ].filter((x) => x !== undefined);
  const text = [
    `${SEVERITY_MARK[f.severity]} *${f.severity.toUpperCase()}*${regression} · ${inlineCode(f.ruleId, 100)}`,
    location,
    f.description ? inlineText(f.description, 300) : undefined,
    more.length ? more.join(' · ') : undefined,
  ]
    .filter((x) => x !== undefined)
    .join('\n');
  return truncate(text, SLACK_LIMITS.sectionText);
}

const textLength = (b: SlackBlock): number =>
  b.type === 'divider' ? 0 : b.type === 'context' ? b.elements.reduce((n, e) => n + e.text.length, 0) : b.text.text.length;

/**
 * The Block Kit message for the findings a notifier announces. Pure: the same input gives the same message.
 * It stays inside Slack's limits whatever the input: at most 50 blocks, 3,000 characters a section,
 * 150 in the header, and a total well below where Slack answers `msg_blocks_too_long`; what does not
 * fit is counted in "N more". It never contains a secret (findings carry none) and every piece of text
 * that comes from a repository or a user is escaped.
 */
export function renderSlackMessage(input: SlackMessageInput): SlackMessage {
  const { context } = input;
  const sorted = sortForDisplay(input.announcements);
  const total = sorted.length;
  const regressions = sorted.filter((a) => a.kind === 'regression').length;
  const place = where(context);
  const path = context.project.pathWithNamespace;

  const headline =
    regressions === total
      ? `${total} secret${pluralS(total)} back after being closed in ${path}`
      : `${total} new blocking secret${pluralS(total)} in ${path}`;
  const header: SlackBlock = { type: 'header', text: { type: 'plain_text', text: truncate(`:rotating_light: ${headline}`, SLACK_LIMITS.headerText), emoji: true } };
  const commitUrl = context.commit.url ?? `${baseOf(context.project.webUrl)}/-/commit/${context.commit.sha}`;
  const summary: SlackBlock = {
    type: 'section',
    text: {
      type: 'mrkdwn',
      verbatim: true,
      text: truncate(
        [
          `*Project* ${link(context.project.webUrl, inlineCode(path, 200))}`,
          place.line,
          `*Pushed by* ${who(context)} · *Commit* ${link(commitUrl, inlineCode(shortSha(context.commit.sha), 20))}`,
          regressions > 0 && regressions < total ? `${regressions} of them came back after being closed.` : undefined,
        ]
          .filter((x) => x !== undefined)
          .join('\n'),
        SLACK_LIMITS.sectionText,
      ),
    },
  };
  const footer: SlackBlock = {
    type: 'context',
    elements: [
      {
        type: 'mrkdwn',
        verbatim: true,
        text: truncate(
          `SecBot · scan ${inlineCode(input.scan, 60)} · output ${inlineCode(input.output, 60)} · check ${link(input.detailsUrl, inlineCode(input.securityCheckId.slice(0, 24), 30))}`,
          SLACK_LIMITS.contextElementText,
        ),
      },
    ],
  };

  const head: SlackBlock[] = [header, summary, { type: 'divider' }];
  const reserve = 400; // for "N more" and the footer
  let budget = SLACK_LIMITS.totalBlockText - reserve - head.reduce((n, b) => n + textLength(b), 0) - textLength(footer);
  const limit = Math.max(0, Math.min(input.renderLimit, MAX_FINDING_BLOCKS));
  const findingBlocks: SlackBlock[] = [];
  for (const a of sorted) {
    if (findingBlocks.length >= limit) break;
    const text = findingSection(input, a);
    if (text.length > budget) break;
    budget -= text.length;
    findingBlocks.push({ type: 'section', text: { type: 'mrkdwn', text, verbatim: true } });
  }
  const shown = findingBlocks.length;
  const rest = total - shown;
  const moreBlock: SlackBlock[] =
    rest > 0
      ? [
          {
            type: 'context',
            elements: [
              {
                type: 'mrkdwn',
                verbatim: true,
                text: `…and ${rest} more finding${pluralS(rest)} not shown here.${input.detailsUrl ? ` ${link(input.detailsUrl, 'See them all')}` : ''}`,
              },
            ],
          },
        ]
      : [];

  const fallback = truncate(`${headline} (${place.label}) pushed by ${context.user.username ?? context.user.name ?? 'someone'}`, SLACK_LIMITS.fallbackText);
  return {
    text: escapeMrkdwn(fallback),
    blocks: [...head, ...findingBlocks, ...moreBlock, footer],
    shown,
  };
}

/** The message for `notify_when_nothing_new`: the change was checked and nothing new blocks. */
export function renderNothingNewMessage(input: Omit<SlackMessageInput, 'announcements' | 'renderLimit'> & { blocking: number }): SlackMessage {
  const { context } = input;
  const place = where(context);
  const path = context.project.pathWithNamespace;
  const headline = input.blocking === 0 ? `No blocking secrets in ${path}` : `Nothing new blocks in ${path} (${input.blocking} already announced)`;
  return {
    text: escapeMrkdwn(truncate(`${headline} (${place.label})`, SLACK_LIMITS.fallbackText)),
    blocks: [
      {
        type: 'section',
        text: {
          type: 'mrkdwn',
          verbatim: true,
          text: truncate(
            `:white_check_mark: ${inlineText(headline, 300)}\n${place.line} · *Pushed by* ${who(context)}${input.detailsUrl ? ` · ${link(input.detailsUrl, 'Check details')}` : ''}`,
            SLACK_LIMITS.sectionText,
          ),
        },
      },
    ],
    shown: 0,
  };
}
