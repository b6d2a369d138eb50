import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, { LogController, type FastifyError, type FastifyInstance } from 'fastify';
import {
  hasZodFastifySchemaValidationErrors,
  jsonSchemaTransform,
  serializerCompiler,
  validatorCompiler,
  type ZodTypeProvider,
} from 'fastify-type-provider-zod';
import { z } from 'zod';
import { errorMessage } from './errors.ts';
import type { Logger } from './logger.ts';
import type { Metrics } from './metrics.ts';

export const ErrorBody = z.object({
  error: z.string().describe('A stable, machine-readable code'),
  message: z.string().describe('What went wrong and what to do about it'),
  issues: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
});
export type ErrorBody = z.infer<typeof ErrorBody>;

export interface HttpServerOptions {
  service: string;
  log: Logger;
  metrics: Metrics;
  /** Named readiness checks (`nats`, `database`); each throws when its dependency is not reachable. */
  readiness: Record<string, () => Promise<void>>;
  openapi?: { title: string; description: string; version: string };
  bodyLimit?: number;
  /**
   * Which peers' X-Forwarded-For to believe for the client address (`req.ip`, which rate limits key on):
   * false (the default) takes the TCP peer; a number of hops, or addresses/CIDRs of the reverse proxies.
   * Believing every peer would let any client pick its own address.
   */
  trustProxy?: boolean | number | string;
}

/**
 * A service's `*_TRUSTED_PROXIES` setting: the reverse proxies whose X-Forwarded-For names the client, as a
 * number of hops (`1`) or their addresses and CIDRs (`10.0.0.0/8,127.0.0.1`). Unset: none, the client is the
 * TCP peer. Rate limits per client rely on it: behind a proxy without it, every client is the proxy.
 */
export const TrustedProxies = z
  .string()
  .trim()
  .refine(
    (v) => v === '' || /^\d{1,2}$/.test(v) || v.split(',').every((p) => /^([0-9A-Fa-f:.]+(\/\d{1,3})?|loopback|linklocal|uniquelocal)$/.test(p.trim())),
    'must be a number of hops, or a comma-separated list of addresses, CIDRs, loopback, linklocal, uniquelocal',
  )
  .optional()
  .transform((v): number | string | false => (!v ? false : /^\d+$/.test(v) ? Number(v) : v));

const trustHops = (hops: number) => (_address: string, hop: number) => hop < hops;

export type HttpServer = FastifyInstance<Server, IncomingMessage, ServerResponse, Logger, ZodTypeProvider>;

const registeredRoutes = new WeakMap<object, Array<{ method: string; url: string }>>();

/**
 * Every route of a server made by createHttpServer (method and URL pattern, in registration order), the HEAD
 * routes Fastify adds to GET routes left out: what a test must cover, including routes added later.
 */
export function routesOf(app: HttpServer): ReadonlyArray<{ method: string; url: string }> {
  return registeredRoutes.get(app) ?? [];
}

/**
 * Fastify with zod validation, OpenAPI at /docs, and the operational routes every service has:
 * /healthz (the process runs), /readyz (its dependencies answer), /metrics (Prometheus).
 */
export async function createHttpServer(opts: HttpServerOptions): Promise<HttpServer> {
  const app = Fastify({
    loggerInstance: opts.log,
    // Handlers log what matters once, with static messages; per-request lines would drown them.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: opts.bodyLimit ?? 1024 * 1024,
    // A number of hops: trust that many proxies nearest to us (what Fastify does with a number).
    trustProxy: typeof opts.trustProxy === 'number' ? trustHops(opts.trustProxy) : (opts.trustProxy ?? false),
  }).withTypeProvider<ZodTypeProvider>();
  const routes: Array<{ method: string; url: string }> = [];
  registeredRoutes.set(app, routes);
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) if (method !== 'HEAD') routes.push({ method, url: route.url });
  });
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);

  if (opts.openapi) {
    await app.register(swagger, {
      openapi: { openapi: '3.0.3', info: opts.openapi },
      transform: jsonSchemaTransform,
    });
    await app.register(swaggerUi, { routePrefix: '/docs' });
  }

  app.addHook('onResponse', async (req, reply) => {
    opts.metrics.httpRequests.observe(
      { method: req.method, route: req.routeOptions.url ?? 'unmatched', status: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    );
  });

  app.setErrorHandler((err: FastifyError, req, reply) => {
    if (hasZodFastifySchemaValidationErrors(err)) {
      const issues = err.validation.map((v) => ({
        path: [err.validationContext ?? '', ...String(v.instancePath ?? '').split('/').filter(Boolean)].filter(Boolean).join('.'),
        message: v.message ?? 'is invalid',
      }));
      const body: ErrorBody = {
        error: 'invalid_request',
        message: `The request is invalid: ${issues.map((i) => `${i.path} ${i.message}`).join('; ')}`,
        issues,
      };
      return reply.status(422).send(body);
    }
    const status = err.statusCode ?? 500;
    if (status === 413) return reply.status(413).send({ error: 'payload_too_large', message: 'The request body is larger than this service accepts.' });
    if (status === 415) return reply.status(415).send({ error: 'unsupported_media_type', message: 'Send the body as application/json.' });
    if (status < 500) return reply.status(status).send({ error: err.code ?? 'bad_request', message: err.message });
    req.log.error({ err: errorMessage(err), route: req.routeOptions.url }, 'Request failed');
    return reply.status(500).send({ error: 'internal_error', message: 'The service failed to handle the request; see its logs.' });
  });

  app.get('/healthz', { schema: { hide: true } }, () => ({ status: 'ok', service: opts.service }));
  app.get('/readyz', { schema: { hide: true } }, async (_req, reply) => {
    const checks: Record<string, string> = {};
    let ready = true;
    await Promise.all(
      Object.entries(opts.readiness).map(async ([name, check]) => {
        try {
          await check();
          checks[name] = 'ok';
        } catch (err) {
          ready = false;
          checks[name] = `unavailable: ${errorMessage(err).slice(0, 200)}`;
        }
      }),
    );
    return reply.status(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not_ready', checks });
  });
  app.get('/metrics', { schema: { hide: true } }, (_req, reply) => {
    reply.header('content-type', opts.metrics.registry.contentType);
    return opts.metrics.registry.metrics();
  });
  return app;
}
