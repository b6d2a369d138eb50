import { createHmac, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';

/**
 * Signed links to a check's details. The results service shows details only to a caller that proves it may
 * see the check's findings; people reach them through the links SecBot posts (commit status, merge request
 * note, Slack), which carry `?t=<token>`: an HMAC-SHA256 over the check id and the link's expiry, keyed with
 * SECBOT_LINK_SIGNING_KEY, which the notifiers (sign) and results (verify) share.
 *
 * Token: `<expiry, unix seconds>.<base64url HMAC>`. A token signs one check id and one expiry: changing either
 * breaks the signature.
 */

/** The settings of services that sign or verify links (results, notifier-gitlab, notifier-slack). */
export const CheckLinkSettings = z.object({
  /** HMAC key of the links to check details; unset: results accepts no link, notifiers post links that ask for a credential. */
  SECBOT_LINK_SIGNING_KEY: z.string().min(32, 'must be at least 32 characters (e.g. openssl rand -hex 32)').optional(),
  /** How long a posted link opens the details. */
  SECBOT_LINK_TTL_DAYS: z.coerce.number().int().min(1).max(365).default(30),
});
export type CheckLinkSettings = z.infer<typeof CheckLinkSettings>;

const DAY_MS = 86_400_000;

const mac = (key: string, checkId: string, expSeconds: number) =>
  createHmac('sha256', key).update(`secbot-check-link.v1\n${checkId}\n${expSeconds}`).digest();

/** A token that opens the details of `checkId` until `expiresAt` (whole seconds). */
export function signCheckLink(key: string, checkId: string, expiresAt: Date): string {
  const exp = Math.floor(expiresAt.getTime() / 1000);
  return `${exp}.${mac(key, checkId, exp).toString('base64url')}`;
}

export type CheckLinkVerdict = { ok: true; expiresAt: Date } | { ok: false; reason: 'malformed' | 'invalid' | 'expired'; message: string };

/** Whether `token` was signed with `key` for `checkId` and has not expired at `now`. */
export function verifyCheckLink(key: string, checkId: string, token: string, now: Date): CheckLinkVerdict {
  const match = /^(\d{1,12})\.([A-Za-z0-9_-]{43})$/.exec(token);
  if (!match) return { ok: false, reason: 'malformed', message: 'The link token is malformed; open the check from a SecBot notification again.' };
  const exp = Number(match[1]);
  const presented = Buffer.from(match[2]!, 'base64url');
  const expected = mac(key, checkId, exp);
  if (presented.length !== expected.length || !timingSafeEqual(presented, expected)) {
    return { ok: false, reason: 'invalid', message: 'The link token is not valid for this check.' };
  }
  const expiresAt = new Date(exp * 1000);
  if (expiresAt.getTime() <= now.getTime()) {
    return { ok: false, reason: 'expired', message: `The link expired at ${expiresAt.toISOString()}; open the check from a newer SecBot notification, or send a credential.` };
  }
  return { ok: true, expiresAt };
}

/**
 * The expiry of a link made at `now`: `ttlDays` ahead, rounded up to the next UTC midnight, so a message
 * rendered again the same day (a redelivery, an updated note) carries the same link.
 */
export function checkLinkExpiry(now: Date, ttlDays: number): Date {
  return new Date(Math.ceil((now.getTime() + ttlDays * DAY_MS) / DAY_MS) * DAY_MS);
}

/** The details URL of a check for people: signed when a key is set, plain (a credential is then needed) otherwise. */
export function checkDetailsLink(baseUrl: string, checkId: string, signing: { key: string | undefined; ttlDays: number }, now: Date): string {
  const url = `${baseUrl.replace(/\/+$/, '')}/v1/security/gitlab/check/${checkId}/details`;
  return signing.key ? `${url}?t=${signCheckLink(signing.key, checkId, checkLinkExpiry(now, signing.ttlDays))}` : url;
}
