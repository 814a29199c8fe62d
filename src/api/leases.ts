// GET /api/v1/leases: DHCP leases as committed to SQLite (the durable truth; offers
// in flight are not leases yet), with the node each MAC belongs to.
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Db } from '../db.js';
import { committedLeases } from '../dhcp/leaseStore.js';
import type { NodeStore } from '../inventory/store.js';

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

export function leaseRoutes(db: Db, nodes: Pick<NodeStore, 'namesByMac'>): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.get(
      '/leases',
      {
        schema: {
          summary: 'Current DHCP leases (pool and reservation modes)',
          tags: ['dhcp'],
          response: { 200: Type.Object({ leases: Type.Array(Lease) }) },
        },
      },
      async () => {
        const leases = committedLeases(db);
        const names = nodes.namesByMac(leases.map((l) => l.mac));
        const iso = (ms: number) => new Date(ms).toISOString();
        return {
          leases: leases.map((l) => ({
            ...l,
            node: names.get(l.mac) ?? null,
            starts: iso(l.starts),
            expires: iso(l.expires),
          })),
        };
      },
    );
  };
}
