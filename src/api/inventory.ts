// /api/v1/profiles and /api/v1/inventory: what the files say, reloading them, importing YAML.
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { AppContext } from '../context.js';
import { parseInventory } from '../inventory/files.js';
import { ProfileSchema } from '../inventory/schema.js';
import { StringEnum } from '../schema/common.js';
import { bearer, requireScope } from './auth.js';
import { ErrorBody } from './errors.js';

const Names = Type.Array(Type.String());
const SyncSummary = Type.Object({
  profiles: Type.Object({ added: Names, updated: Names, removed: Names }),
  nodes: Type.Object({ added: Names, updated: Names, removed: Names, adopted: Names }),
});
const errors = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 409: ErrorBody };

export function inventoryRoutes(ctx: AppContext): FastifyPluginAsyncTypebox {
  const read = requireScope(ctx.tokens, 'read');
  const admin = requireScope(ctx.tokens, 'admin');
  return async (app) => {
    app.get(
      '/profiles',
      {
        onRequest: read,
        schema: {
          summary: 'List profiles',
          tags: ['inventory'],
          security: bearer,
          response: {
            200: Type.Object({
              profiles: Type.Array(
                Type.Object({
                  profile: ProfileSchema,
                  source: StringEnum(['file', 'api'] as const),
                  sourceFile: Type.Union([Type.String(), Type.Null()]),
                }),
              ),
            }),
            ...errors,
          },
        },
      },
      async () => ({ profiles: ctx.nodes.listProfiles() }),
    );

    app.post(
      '/inventory/reload',
      {
        onRequest: admin,
        schema: {
          summary: 'Re-read the inventory directory (all or nothing: a bad file changes nothing)',
          tags: ['inventory'],
          security: bearer,
          response: { 200: SyncSummary, ...errors },
        },
      },
      async () => ctx.inventory.reload(),
    );

    app.post(
      '/inventory/import',
      {
        onRequest: admin,
        bodyLimit: 8 * 1024 * 1024,
        schema: {
          summary:
            'Import inventory YAML documents as API-managed profiles and nodes (created or updated, never removed)',
          tags: ['inventory'],
          security: bearer,
          body: Type.Object(
            {
              files: Type.Array(
                Type.Object(
                  { name: Type.String({ minLength: 1 }), content: Type.String() },
                  { additionalProperties: false },
                ),
                { minItems: 1 },
              ),
            },
            { additionalProperties: false },
          ),
          response: { 200: SyncSummary, ...errors },
        },
      },
      async (req) => ctx.inventory.import(req.body.files.map((f) => parseInventory(f.content, f.name))),
    );
  };
}
