import type { FastifyReply, FastifyRequest } from 'fastify';

/**
 * Token buckets, one per key (a client address, a hash of a token): each holds at most `perMinute` tokens and
 * refills at `perMinute` a minute. In memory, per process: a replica counts its own requests. The number of
 * keys is bounded: past `maxKeys` the oldest bucket is forgotten (it starts full again).
 */
export interface RateLimiter {
  /** Takes one token of `key`: 0 when there was one, else the seconds until there is one (nothing taken). */
  take(key: string): number;
  /** Seconds until `key` has a token again; 0 when it has one now (nothing taken). */
  wait(key: string): number;
}

export function createRateLimiter(opts: { perMinute: number; maxKeys?: number; now?: () => number }): RateLimiter {
  const capacity = Math.max(1, opts.perMinute);
  const perMs = capacity / 60_000;
  const maxKeys = opts.maxKeys ?? 50_000;
  const now = opts.now ?? Date.now;
  const buckets = new Map<string, { tokens: number; at: number }>();

  const current = (key: string) => {
    const t = now();
    const b = buckets.get(key);
    if (!b) return { tokens: capacity, at: t };
    return { tokens: Math.min(capacity, b.tokens + (t - b.at) * perMs), at: t };
  };
  const secondsUntilOne = (tokens: number) => Math.max(1, Math.ceil((1 - tokens) / perMs / 1000));

  return {
    take(key) {
      const b = current(key);
      if (b.tokens < 1) return secondsUntilOne(b.tokens);
      b.tokens -= 1;
      buckets.delete(key);
      buckets.set(key, b);
      if (buckets.size > maxKeys) buckets.delete(buckets.keys().next().value as string);
      return 0;
    },
    wait(key) {
      const b = current(key);
      return b.tokens < 1 ? secondsUntilOne(b.tokens) : 0;
    },
  };
}

/**
 * Failed authentications per client address: a client past its budget gets 429 (Retry-After) before its
 * credential is even looked at, so guessing a secret is slow, and a valid one does not get through a
 * client that is blocked either (otherwise a 429 would tell a wrong guess from a right one).
 */
export interface AuthFailureLimiter {
  /** Answers 429 and returns true when the client is blocked; call first, in an onRequest hook. */
  refuseBlocked(req: FastifyRequest, reply: FastifyReply): boolean;
  /** Counts a failed authentication of the client. */
  failed(req: FastifyRequest): void;
}

export function createAuthFailureLimiter(opts: { perMinute: number; now?: () => number }): AuthFailureLimiter {
  const limiter = createRateLimiter(opts);
  return {
    refuseBlocked(req, reply) {
      const wait = limiter.wait(req.ip);
      if (wait === 0) return false;
      void reply
        .status(429)
        .header('retry-after', String(wait))
        .header('connection', 'close')
        .send({ error: 'too_many_failed_authentications', message: `Too many failed authentications from this client; retry in ${wait} s.` });
      return true;
    },
    failed(req) {
      limiter.take(req.ip);
    },
  };
}
