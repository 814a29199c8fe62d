// /api/v1/profiles and /api/v1/inventory: what the files say, reloading them, importing YAML.
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { parseInventory } from '../inventory/files.js';
import type { Inventory } from '../inventory/index.js';
import { ProfileSchema } from '../inventory/schema.js';
import { StringEnum } from '../schema/common.js';
import { errorResponses } from './schemas.js';

const Names = Type.Array(Type.String());
const SyncSummary = Type.Object({
  profiles: Type.Object({ added: Names, updated: Names, removed: Names }),
  nodes: Type.Object({ added: Names, updated: Names, removed: Names, adopted: Names }),
});
const errors = errorResponses(400, 409);

const StoredProfile = Type.Object({
  profile: ProfileSchema,
  source: StringEnum(['file', 'api'] as const),
  sourceFile: Type.Union([Type.String(), Type.Null()]),
});

const ImportBody = Type.Object(
  {
    files: Type.Array(
      Type.Object({ name: Type.String({ minLength: 1 }), content: Type.String() }, { additionalProperties: false }),
      { minItems: 1 },
    ),
  },
  { additionalProperties: false },
);

export function inventoryRoutes(inventory: Inventory): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.get(
      '/profiles',
      {
        schema: {
          summary: 'List profiles',
          tags: ['inventory'],
          response: { 200: Type.Object({ profiles: Type.Array(StoredProfile) }), ...errors },
        },
      },
      async () => ({ profiles: inventory.nodes.listProfiles() }),
    );

    app.post(
      '/inventory/reload',
      {
        config: { scope: 'admin' },
        schema: {
          summary: 'Re-read the inventory directory (all or nothing: a bad file changes nothing)',
          tags: ['inventory'],
          response: { 200: SyncSummary, ...errors },
        },
      },
      async () => inventory.reload(),
    );

    app.post(
      '/inventory/import',
      {
        config: { scope: 'admin' },
        bodyLimit: 8 * 1024 * 1024,
        schema: {
          summary:
            'Import inventory YAML documents as API-managed profiles and nodes (created or updated, never removed)',
          tags: ['inventory'],
          body: ImportBody,
          response: { 200: SyncSummary, ...errors },
        },
      },
      async (req) => inventory.import(req.body.files.map((f) => parseInventory(f.content, f.name))),
    );
  };
}
