// /api/v1/nodes: the inventory as operators see and change it.
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { AppContext } from '../context.js';
import { NODE_STATES, NodePatchSchema, NodeSpecSchema } from '../inventory/schema.js';
import { StringEnum } from '../schema/common.js';
import { bearer, operatorOf, requireScope } from './auth.js';
import { ApiError, ErrorBody } from './errors.js';
import { nodeView, NodeView } from './views.js';

const IdParams = Type.Object({ id: Type.String({ minLength: 1, description: 'node name or any of its MACs' }) });
const errors = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 409: ErrorBody };

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

export function nodeRoutes(ctx: AppContext): FastifyPluginAsyncTypebox {
  const read = requireScope(ctx.tokens, 'read');
  const admin = requireScope(ctx.tokens, 'admin');
  return async (app) => {
    app.get(
      '/nodes',
      {
        onRequest: read,
        schema: {
          summary: 'List nodes',
          tags: ['nodes'],
          security: bearer,
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
        const nodes = ctx.nodes.list({
          ...(req.query.state ? { state: req.query.state } : {}),
          labels: parseLabelFilter(req.query.label),
        });
        return { nodes: nodes.map(nodeView) };
      },
    );

    app.post(
      '/nodes',
      {
        onRequest: admin,
        schema: {
          summary: 'Create a node',
          tags: ['nodes'],
          security: bearer,
          body: NodeSpecSchema,
          response: { 201: NodeView, ...errors },
        },
      },
      async (req, reply) => {
        const node = ctx.nodes.create(req.body);
        req.log.info({ node: node.name, macs: node.macs }, 'node created');
        return reply.code(201).send(nodeView(node));
      },
    );

    app.get(
      '/nodes/:id',
      {
        onRequest: read,
        schema: {
          summary: 'One node with its state and stage timestamps',
          tags: ['nodes'],
          security: bearer,
          params: IdParams,
          response: { 200: NodeView, ...errors },
        },
      },
      async (req) => nodeView(ctx.nodes.mustGet(req.params.id)),
    );

    app.patch(
      '/nodes/:id',
      {
        onRequest: admin,
        schema: {
          summary: 'Update a node (API-managed or discovered ones)',
          tags: ['nodes'],
          security: bearer,
          params: IdParams,
          body: NodePatchSchema,
          response: { 200: NodeView, ...errors },
        },
      },
      async (req) => {
        const operator = operatorOf(req);
        const node = ctx.lifecycle.edit(req.params.id, req.body, operator);
        req.log.info({ node: node.name, fields: Object.keys(req.body) }, 'node updated');
        return nodeView(node);
      },
    );

    app.delete(
      '/nodes/:id',
      {
        onRequest: admin,
        schema: {
          summary: 'Delete a node (API-managed or discovered ones)',
          tags: ['nodes'],
          security: bearer,
          params: IdParams,
          response: { 204: Type.Null(), ...errors },
        },
      },
      async (req, reply) => {
        const node = ctx.nodes.delete(req.params.id);
        req.log.info({ node: node.name }, 'node deleted');
        return reply.code(204).send(null);
      },
    );

    app.get(
      '/nodes/:id/events',
      {
        onRequest: read,
        schema: {
          summary: "A node's timeline, oldest first",
          tags: ['nodes'],
          security: bearer,
          params: IdParams,
          querystring: Type.Object(
            {
              after: Type.Optional(Type.Integer({ minimum: 0, description: 'only events with a larger id' })),
              limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 5000, default: 500 })),
              type: Type.Optional(Type.String()),
            },
            { additionalProperties: false },
          ),
          response: {
            200: Type.Object({
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
            }),
            ...errors,
          },
        },
      },
      async (req) => {
        const node = ctx.nodes.mustGet(req.params.id);
        const events = ctx.events.list(node.id, {
          ...(req.query.after !== undefined ? { afterId: req.query.after } : {}),
          ...(req.query.limit !== undefined ? { limit: req.query.limit } : {}),
          ...(req.query.type ? { type: req.query.type } : {}),
        });
        return {
          node: node.name,
          events: events.map((e) => ({
            id: e.id,
            ts: new Date(e.ts).toISOString(),
            type: e.type,
            source: e.source,
            data: e.data,
          })),
        };
      },
    );
  };
}
