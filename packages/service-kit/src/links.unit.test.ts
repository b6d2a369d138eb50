import { describe, expect, it } from 'vitest';
import { CheckLinkSettings, checkDetailsLink, checkLinkExpiry, signCheckLink, verifyCheckLink } from './links.ts';

const KEY = 'links-test-key-0123456789abcdef0123456789';
const CHECK = `GIT_LOCAL_${'a'.repeat(64)}`;
const OTHER = `GIT_LOCAL_${'b'.repeat(64)}`;
const now = new Date('2026-03-01T12:00:00Z');
const inADay = new Date('2026-03-02T12:00:00Z');

describe('signed check links', () => {
  it('verifies a token signed for the check, until its expiry', () => {
    const token = signCheckLink(KEY, CHECK, inADay);

    expect(token).toMatch(/^\d+\.[A-Za-z0-9_-]{43}$/);
    expect(verifyCheckLink(KEY, CHECK, token, now)).toEqual({ ok: true, expiresAt: inADay });
  });

  it('refuses the token for another check id', () => {
    const token = signCheckLink(KEY, CHECK, inADay);

    expect(verifyCheckLink(KEY, OTHER, token, now)).toMatchObject({ ok: false, reason: 'invalid' });
  });

  it('refuses a token whose expiry was moved', () => {
    const [, sig] = signCheckLink(KEY, CHECK, inADay).split('.');
    const later = Math.floor(inADay.getTime() / 1000) + 365 * 86400;

    expect(verifyCheckLink(KEY, CHECK, `${later}.${sig}`, now)).toMatchObject({ ok: false, reason: 'invalid' });
  });

  it('refuses a token whose signature was changed', () => {
    const token = signCheckLink(KEY, CHECK, inADay);
    const flipped = token.slice(0, -1) + (token.endsWith('A') ? 'B' : 'A');

    expect(verifyCheckLink(KEY, CHECK, flipped, now)).toMatchObject({ ok: false, reason: 'invalid' });
  });

  it('refuses an expired token', () => {
    const token = signCheckLink(KEY, CHECK, inADay);

    expect(verifyCheckLink(KEY, CHECK, token, new Date(inADay.getTime() + 1000))).toMatchObject({ ok: false, reason: 'expired' });
    expect(verifyCheckLink(KEY, CHECK, token, inADay)).toMatchObject({ ok: false, reason: 'expired' });
  });

  it('refuses a token signed with another key', () => {
    const token = signCheckLink('another-key-0123456789abcdef0123456789', CHECK, inADay);

    expect(verifyCheckLink(KEY, CHECK, token, now)).toMatchObject({ ok: false, reason: 'invalid' });
  });

  it.each(['', 'abc', '123.', `.${'A'.repeat(43)}`, `12.${'A'.repeat(42)}`, `12.${'A'.repeat(43)}=`, `-1.${'A'.repeat(43)}`])('refuses the malformed token %j', (token) => {
    expect(verifyCheckLink(KEY, CHECK, token, now)).toMatchObject({ ok: false, reason: 'malformed' });
  });

  it('expires links at the UTC midnight after the TTL, so a message rendered again the same day is unchanged', () => {
    expect(checkLinkExpiry(now, 30)).toEqual(new Date('2026-04-01T00:00:00Z'));
    expect(checkLinkExpiry(new Date('2026-03-01T23:59:00Z'), 30)).toEqual(new Date('2026-04-01T00:00:00Z'));
  });

  it('builds a details link that verifies, or a plain one without a key', () => {
    const signed = new URL(checkDetailsLink('https://secbot.example.com/', CHECK, { key: KEY, ttlDays: 30 }, now));

    expect(signed.pathname).toBe(`/v1/security/gitlab/check/${CHECK}/details`);
    expect(verifyCheckLink(KEY, CHECK, signed.searchParams.get('t') ?? '', now).ok).toBe(true);
    expect(checkDetailsLink('https://secbot.example.com', CHECK, { key: undefined, ttlDays: 30 }, now)).toBe(`https://secbot.example.com/v1/security/gitlab/check/${CHECK}/details`);
  });

  it('wants a key of at least 32 characters, and 30 days by default', () => {
    expect(CheckLinkSettings.safeParse({ SECBOT_LINK_SIGNING_KEY: 'short' }).success).toBe(false);
    expect(CheckLinkSettings.parse({})).toEqual({ SECBOT_LINK_TTL_DAYS: 30 });
  });
});
