// GET /metrics at the root, where Prometheus looks for it.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Metrics } from '../metrics.js';

export function metricsRoute(metrics: Metrics): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.get(
      '/metrics',
      { schema: { summary: 'Prometheus metrics (text format)', tags: ['ops'] } },
      async (_req, reply) => reply.type(metrics.contentType).send(await metrics.text()),
    );
  };
}
