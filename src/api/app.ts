// The HTTP server: operator API under /api/v1, health, OpenAPI at /docs.
// Node-facing routes (boot scripts, installer configs, callbacks) join here as
// their own plugins; they authenticate by the node's token in the path.
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import swagger from '@fastify/swagger';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { AppContext } from '../context.js';
import { installErrorHandling } from './errors.js';
import { inventoryRoutes } from './inventory.js';
import { nodeRoutes } from './nodes.js';
import { lifecycleRoutes, metricsRoute } from './lifecycle.js';
import { explainRoutes } from './explain.js';
import { leaseRoutes } from './leases.js';
import { bootRoutes } from '../boot/routes.js';

/** Node-facing URLs carry secrets in their path; logs get the route shape instead. */
export function maskUrl(url: string): string {
  return url.replace(/\/(callback|n)\/[^/?]+/g, '/$1/[token]');
}

export async function buildApp(ctx: AppContext): Promise<FastifyInstance> {
  // The cast only narrows pino's richer Logger type to fastify's base logger interface.
  const app = Fastify({
    loggerInstance: ctx.log.child(
      { mod: 'http' },
      {
        serializers: {
          req: (req: { method: string; url: string; ip?: string }) => ({
            method: req.method,
            url: maskUrl(req.url),
            client: req.ip,
          }),
        },
      },
    ) as FastifyBaseLogger,
    // Unknown keys are an error, not silently dropped: a typo must not look like success.
    ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', useDefaults: true } },
    bodyLimit: 1024 * 1024,
    routerOptions: { ignoreTrailingSlash: true },
  }).withTypeProvider<TypeBoxTypeProvider>();
  installErrorHandling(app);

  await app.register(swagger, {
    openapi: {
      info: { title: 'rackjoin', version: '1', description: 'PXE provisioning from power-on to kubeadm join' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    },
  });

  app.get(
    '/healthz',
    { schema: { summary: 'Liveness', tags: ['ops'], response: { 200: Type.Object({ status: Type.Literal('ok') }) } } },
    async () => ({
      status: 'ok' as const,
    }),
  );
  app.get('/docs', { schema: { hide: true } }, async () => app.swagger());

  await app.register(nodeRoutes(ctx), { prefix: '/api/v1' });
  await app.register(inventoryRoutes(ctx), { prefix: '/api/v1' });
  await app.register(lifecycleRoutes(ctx), { prefix: '/api/v1' });
  await app.register(metricsRoute(ctx));
  await app.register(explainRoutes(ctx), { prefix: '/api/v1' });
  await app.register(leaseRoutes(ctx), { prefix: '/api/v1' });
  await app.register(bootRoutes(ctx, ctx.boot));
  return app;
}
