// /api/v1/nodes: the inventory as operators see and change it.
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { ReservationRules } from '../check/addresses.js';
import type { EventLog } from '../events.js';
import type { Inventory } from '../inventory/index.js';
import { NodePatchSchema, NodeSpecSchema } from '../inventory/schema.js';
import { NODE_STATES } from '../inventory/states.js';
import type { NodeStore } from '../inventory/store.js';
import type { Lifecycle } from '../lifecycle/lifecycle.js';
import { StringEnum } from '../schema/common.js';
import { operatorOf } from './auth.js';
import { ApiError } from './errors.js';
import { errorResponses, IdParams } from './schemas.js';
import { nodeViews, NodeView } from './views.js';

const errors = errorResponses(400, 404, 409);

/** `label=rack=r1` → { rack: 'r1' }; repeated labels all must match. */
function parseLabelFilter(labels: string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const l of labels ?? []) {
    const eq = l.indexOf('=');
    if (eq <= 0) throw new ApiError(400, 'bad_request', `label filter "${l}" must be key=value`);
    out[l.slice(0, eq)] = l.slice(eq + 1);
  }
  return out;
}

const EventsQuery = Type.Object(
  {
    after: Type.Optional(Type.Integer({ minimum: 0, description: 'only events with a larger id' })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 5000, default: 500 })),
    type: Type.Optional(Type.String()),
  },
  { additionalProperties: false },
);

const Timeline = Type.Object({
  node: Type.String(),
  events: Type.Array(
    Type.Object({
      id: Type.Integer(),
      ts: Type.String({ format: 'date-time' }),
      type: Type.String(),
      source: Type.String(),
      data: Type.Record(Type.String(), Type.Unknown()),
    }),
  ),
});

export interface NodeRouteDeps {
  nodes: NodeStore;
  lifecycle: Pick<Lifecycle, 'edit' | 'reasonOf'>;
  events: Pick<EventLog, 'list'>;
  inventory: Pick<Inventory, 'warningsFor'>;
  rules: ReservationRules;
}

export function nodeRoutes({ nodes, lifecycle, events, inventory, rules }: NodeRouteDeps): FastifyPluginAsyncTypebox {
  const nodeView = nodeViews(nodes, lifecycle, inventory);
  // The same address rules as an inventory reload (src/check/addresses.ts).
  const checkIp = (name: string, ip: string | null | undefined) => {
    const problem = ip ? rules.problem(ip) : null;
    if (problem) throw new ApiError(400, 'invalid', `node ${name}: ip ${problem}`);
  };
  return async (app) => {
    app.get(
      '/nodes',
      {
        schema: {
          summary: 'List nodes',
          tags: ['nodes'],
          querystring: Type.Object(
            {
              state: Type.Optional(StringEnum(NODE_STATES)),
              label: Type.Optional(Type.Array(Type.String(), { description: 'key=value; repeat to AND' })),
            },
            { additionalProperties: false },
          ),
          response: { 200: Type.Object({ nodes: Type.Array(NodeView) }), ...errors },
        },
      },
      async (req) => {
        const labels = parseLabelFilter(req.query.label);
        const list = nodes.list({ ...(req.query.state ? { state: req.query.state } : {}), labels });
        return { nodes: list.map((n) => nodeView(n)) };
      },
    );

    app.post(
      '/nodes',
      {
        config: { scope: 'admin' },
        schema: {
          summary: 'Create a node',
          tags: ['nodes'],
          body: NodeSpecSchema,
          response: { 201: NodeView, ...errors },
        },
      },
      async (req, reply) => {
        checkIp(req.body.name, req.body.ip);
        const node = nodes.create(req.body);
        req.log.info({ node: node.name, macs: node.macs }, 'node created');
        return reply.code(201).send(nodeView(node));
      },
    );

    app.get(
      '/nodes/:id',
      {
        schema: {
          summary: 'One node with its state and stage timestamps',
          tags: ['nodes'],
          params: IdParams,
          response: { 200: NodeView, ...errors },
        },
      },
      async (req) => nodeView(nodes.mustGet(req.params.id)),
    );

    app.patch(
      '/nodes/:id',
      {
        config: { scope: 'admin' },
        schema: {
          summary: 'Update a node (API-managed or discovered ones)',
          tags: ['nodes'],
          params: IdParams,
          body: NodePatchSchema,
          response: { 200: NodeView, ...errors },
        },
      },
      async (req) => {
        checkIp(nodes.mustGet(req.params.id).name, req.body.ip);
        const node = lifecycle.edit(req.params.id, req.body, operatorOf(req));
        req.log.info({ node: node.name, fields: Object.keys(req.body) }, 'node updated');
        return nodeView(node);
      },
    );

    app.delete(
      '/nodes/:id',
      {
        config: { scope: 'admin' },
        schema: {
          summary: 'Delete a node (API-managed or discovered ones)',
          tags: ['nodes'],
          params: IdParams,
          response: { 204: Type.Null(), ...errors },
        },
      },
      async (req, reply) => {
        const node = nodes.delete(req.params.id);
        req.log.info({ node: node.name }, 'node deleted');
        return reply.code(204).send(null);
      },
    );

    app.get(
      '/nodes/:id/events',
      {
        schema: {
          summary: "A node's timeline, oldest first",
          tags: ['nodes'],
          params: IdParams,
          querystring: EventsQuery,
          response: { 200: Timeline, ...errors },
        },
      },
      async (req) => {
        const node = nodes.mustGet(req.params.id);
        const { after, limit, type } = req.query;
        const list = events.list(node.id, {
          ...(after !== undefined ? { afterId: after } : {}),
          ...(limit !== undefined ? { limit } : {}),
          ...(type ? { type } : {}),
        });
        const iso = (ms: number) => new Date(ms).toISOString();
        return { node: node.name, events: list.map((e) => ({ ...e, ts: iso(e.ts) })) };
      },
    );
  };
}
