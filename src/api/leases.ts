// GET /api/v1/leases: DHCP leases as committed to SQLite (the durable truth; offers
// in flight are not leases yet), with the node each MAC belongs to.
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { AppContext } from '../context.js';
import { bearer, requireScope } from './auth.js';
import { ErrorBody } from './errors.js';

const Lease = Type.Object({
  ip: Type.String(),
  mac: Type.String(),
  node: Type.Union([Type.String(), Type.Null()]),
  state: Type.String({ description: 'bound, or declined (quarantined)' }),
  subnet: Type.String(),
  hostname: Type.Union([Type.String(), Type.Null()]),
  starts: Type.String({ format: 'date-time' }),
  expires: Type.String({ format: 'date-time' }),
});

interface LeaseRow {
  ip: string;
  mac: string;
  node: string | null;
  state: string;
  subnet: string;
  hostname: string | null;
  starts: number;
  expires: number;
}

export function leaseRoutes(ctx: AppContext): FastifyPluginAsyncTypebox {
  const read = requireScope(ctx.tokens, 'read');
  const query = ctx.db.prepare(
    `SELECT l.ip, l.mac, n.name AS node, l.state, l.subnet, l.hostname, l.starts, l.expires
     FROM dhcp_leases l LEFT JOIN node_macs m ON m.mac = l.mac LEFT JOIN nodes n ON n.id = m.node_id
     WHERE l.expires > ? ORDER BY l.ip`,
  );
  return async (app) => {
    app.get(
      '/leases',
      {
        onRequest: read,
        schema: {
          summary: 'Current DHCP leases (pool and reservation modes)',
          tags: ['dhcp'],
          security: bearer,
          response: { 200: Type.Object({ leases: Type.Array(Lease) }), 401: ErrorBody, 403: ErrorBody },
        },
      },
      async () => ({
        leases: (query.all(Date.now()) as LeaseRow[]).map((l) => ({
          ...l,
          starts: new Date(l.starts).toISOString(),
          expires: new Date(l.expires).toISOString(),
        })),
      }),
    );
  };
}
