// GET /api/v1/nodes/:id/explain: the boot dry run for operators.
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { FIRMWARE_NAMES } from '../boot/firmware.js';
import { explain, type ExplainDeps } from '../explain.js';
import { normalizeMac } from '../mac.js';
import { StringEnum } from '../schema/common.js';
import { ApiError } from './errors.js';
import { errorResponses } from './schemas.js';

const Stage = Type.Object({
  stage: Type.String(),
  summary: Type.String(),
  reason: Type.String(),
  file: Type.Optional(Type.String()),
  url: Type.Optional(Type.String()),
  template: Type.Optional(Type.String()),
  content: Type.Optional(Type.String()),
});

const Explanation = Type.Object({
  mac: Type.String(),
  node: Type.Union([Type.String(), Type.Null()]),
  state: Type.Union([Type.String(), Type.Null()]),
  profile: Type.Union([Type.String(), Type.Null()]),
  arch: Type.String(),
  dhcpMode: Type.String(),
  stages: Type.Array(Stage),
  warnings: Type.Array(Type.String()),
  variables: Type.Array(
    Type.Object({
      name: Type.String(),
      value: Type.String({ description: 'secret-looking values (password, token, ...) show as [set]' }),
      source: StringEnum(['node', 'profile', 'default', 'unset'] as const),
      description: Type.Optional(Type.String()),
    }),
    { description: "the installer variables the profile's templates use, with this node's values" },
  ),
});

export function explainRoutes(deps: ExplainDeps): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.get(
      '/nodes/:id/explain',
      {
        schema: {
          summary: 'Dry run: what this node (or an unknown MAC) gets at every boot stage, and why; secrets masked',
          tags: ['nodes'],
          params: Type.Object({ id: Type.String({ minLength: 1, description: 'node name or any MAC, known or not' }) }),
          querystring: Type.Object(
            { arch: Type.Optional(StringEnum(FIRMWARE_NAMES, { default: 'bios' })) },
            { additionalProperties: false },
          ),
          response: { 200: Explanation, ...errorResponses(400, 404) },
        },
      },
      async (req) => {
        const mac = normalizeMac(req.params.id) ?? deps.nodes.get(req.params.id)?.macs[0];
        if (!mac) throw new ApiError(404, 'not_found', `no node with name or MAC "${req.params.id}"`);
        return explain(deps, mac, req.query.arch ?? 'bios');
      },
    );
  };
}
