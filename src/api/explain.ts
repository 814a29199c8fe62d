// GET /api/v1/nodes/:id/explain: the boot dry run for operators.
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { AppContext } from '../context.js';
import { explain, EXPLAIN_ARCHES } from '../boot/explain.js';
import { normalizeMac } from '../mac.js';
import { StringEnum } from '../schema/common.js';
import { bearer, requireScope } from './auth.js';
import { ApiError, ErrorBody } from './errors.js';

const Stage = Type.Object({
  stage: Type.String(),
  summary: Type.String(),
  reason: Type.String(),
  file: Type.Optional(Type.String()),
  url: Type.Optional(Type.String()),
  template: Type.Optional(Type.String()),
  content: Type.Optional(Type.String()),
});

export function explainRoutes(ctx: AppContext): FastifyPluginAsyncTypebox {
  const read = requireScope(ctx.tokens, 'read');
  return async (app) => {
    app.get(
      '/nodes/:id/explain',
      {
        onRequest: read,
        schema: {
          summary: 'Dry run: what this node (or an unknown MAC) gets at every boot stage, and why; secrets masked',
          tags: ['nodes'],
          security: bearer,
          params: Type.Object({ id: Type.String({ minLength: 1, description: 'node name or any MAC, known or not' }) }),
          querystring: Type.Object(
            { arch: Type.Optional(StringEnum(EXPLAIN_ARCHES, { default: 'bios' })) },
            { additionalProperties: false },
          ),
          response: {
            200: Type.Object({
              mac: Type.String(),
              node: Type.Union([Type.String(), Type.Null()]),
              state: Type.Union([Type.String(), Type.Null()]),
              profile: Type.Union([Type.String(), Type.Null()]),
              arch: Type.String(),
              dhcpMode: Type.String(),
              stages: Type.Array(Stage),
            }),
            400: ErrorBody,
            401: ErrorBody,
            404: ErrorBody,
          },
        },
      },
      async (req) => {
        const node = ctx.nodes.get(req.params.id);
        const mac = normalizeMac(req.params.id) ?? node?.macs[0];
        if (!mac) throw new ApiError(404, 'not_found', `no node with name or MAC "${req.params.id}"`);
        return explain(ctx, ctx.boot, ctx.server, mac, node, req.query.arch ?? 'bios');
      },
    );
  };
}
