// Schemas more than one route uses: the error body, the error responses, the
// node id parameter. Route-specific schemas sit with their routes.
import { Type, type TSchema } from '@sinclair/typebox';

export const ErrorBody = Type.Object(
  { error: Type.String({ description: 'machine-readable code' }), message: Type.String() },
  { $id: 'ErrorBody' },
);

/** Error responses by status code, for a route's `response` schema. */
export function errorResponses(...codes: number[]): Record<number, TSchema> {
  return Object.fromEntries(codes.map((c) => [c, ErrorBody]));
}

export const IdParams = Type.Object({ id: Type.String({ minLength: 1, description: 'node name or any of its MACs' }) });

/** OpenAPI security requirement for operator routes. */
export const bearer = [{ bearer: [] as string[] }];
