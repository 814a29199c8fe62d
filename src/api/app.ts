// The HTTP server: two contexts. The node-facing one (boot files, installer files,
// callbacks) authenticates by the node's token in the path; the operator one
// (operator.ts) requires a bearer token on every route it holds. Health and the
// OpenAPI document need neither.
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import swagger from '@fastify/swagger';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { bootRoutes } from '../boot/routes.js';
import { maskSecrets } from '../boot/urls.js';
import type { Logger } from '../log.js';
import type { ApiDeps } from './deps.js';
import { callbackRoute } from './callback.js';
import { installErrorHandling } from './errors.js';
import { operatorApi } from './operator.js';

/** The HTTP server with every route. */
export async function buildApp(parts: ApiDeps): Promise<FastifyInstance> {
  const app = createServer(parts.log);
  await registerRoutes(app, parts);
  return app;
}

/** The fastify instance: logging with secrets masked, strict validation, one error handler. */
export function createServer(log: Logger): FastifyInstance {
  // The cast only narrows pino's richer Logger type to fastify's base logger interface.
  const app = Fastify({
    loggerInstance: log.child(
      { mod: 'http' },
      {
        serializers: {
          // Node-facing URLs carry secrets in their path; logs get them masked.
          req: (req: { method: string; url: string; ip?: string }) => ({
            method: req.method,
            url: maskSecrets(req.url),
            client: req.ip,
          }),
        },
      },
    ) as FastifyBaseLogger,
    // Unknown keys are an error, not silently dropped: a typo must not look like success.
    // verbose: errors carry their parent schema, for "did you mean" among its keys.
    ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', useDefaults: true, verbose: true } },
    bodyLimit: 1024 * 1024,
    routerOptions: { ignoreTrailingSlash: true },
  }).withTypeProvider<TypeBoxTypeProvider>();
  installErrorHandling(app);
  return app;
}

export async function registerRoutes(app: FastifyInstance, parts: ApiDeps): Promise<void> {
  const { plane, lifecycle, config, nodes, metrics } = parts;
  await app.register(swagger, {
    openapi: {
      info: { title: 'rackjoin', version: '1', description: 'PXE provisioning from power-on to kubeadm join' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    },
  });

  const Health = Type.Object({ status: Type.Literal('ok') });
  app.get('/healthz', { schema: { summary: 'Liveness', tags: ['ops'], response: { 200: Health } } }, async () => ({
    status: 'ok' as const,
  }));
  app.get('/docs', { schema: { hide: true } }, async () => app.swagger());

  await app.register(async (nodeFacing) => {
    await nodeFacing.register(bootRoutes({ plane, lifecycle, assets: config.assets }));
    await nodeFacing.register(callbackRoute({ nodes, plane, lifecycle, metrics }));
  });
  await app.register(operatorApi(parts));
}
