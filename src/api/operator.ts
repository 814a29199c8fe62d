// The operator API: one encapsulated context whose hook requires a bearer token
// for every route in it (auth.ts), whose routes all carry the bearer security
// requirement and the 401/403 responses in the OpenAPI document, and whose
// route plugins each get only the parts they use.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { ApiDeps } from './deps.js';
import { requireToken } from './auth.js';
import { explainRoutes } from './explain.js';
import { inventoryRoutes } from './inventory.js';
import { leaseRoutes } from './leases.js';
import { lifecycleRoutes } from './lifecycle.js';
import { metricsRoute } from './metrics.js';
import { nodeRoutes } from './nodes.js';
import { pcapRoutes } from './pcap.js';
import { bearer, errorResponses } from './schemas.js';

const API_PREFIX = '/api/v1';

export function operatorApi(parts: ApiDeps): FastifyPluginAsyncTypebox {
  const { nodes, events, lifecycle, inventory, db, metrics, config, plane, dhcp, endpoint, rules, captures } = parts;
  return async (op) => {
    op.addHook('onRequest', requireToken(parts.tokens));
    op.addHook('onRoute', (route) => {
      const schema = route.schema ?? {};
      const response = { ...errorResponses(401, 403), ...(schema.response as object | undefined) };
      route.schema = { ...schema, security: bearer, response };
    });
    await op.register(nodeRoutes({ nodes, lifecycle, events, inventory, rules }), { prefix: API_PREFIX });
    await op.register(inventoryRoutes(inventory), { prefix: API_PREFIX });
    await op.register(lifecycleRoutes({ nodes, events, lifecycle, inventory }), { prefix: API_PREFIX });
    await op.register(explainRoutes({ config, nodes, plane, dhcp, endpoint, inventory }), { prefix: API_PREFIX });
    await op.register(leaseRoutes(db, nodes), { prefix: API_PREFIX });
    await op.register(pcapRoutes({ nodes, captures }), { prefix: API_PREFIX });
    await op.register(metricsRoute(metrics));
  };
}
