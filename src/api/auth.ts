// Operator routes: `Authorization: Bearer <token>`; read tokens may look, admin tokens may change.
import type { FastifyReply, FastifyRequest, onRequestHookHandler } from 'fastify';
import type { ApiTokens, Scope } from './tokens.js';
import { ApiError } from './errors.js';

export function requireScope(tokens: ApiTokens, scope: Scope): onRequestHookHandler {
  return async function checkBearer(req: FastifyRequest, _reply: FastifyReply) {
    const header = req.headers.authorization ?? '';
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    if (!match) throw new ApiError(401, 'unauthorized', 'missing bearer token (Authorization: Bearer <token>)');
    const who = tokens.check(match[1]!);
    if (!who) throw new ApiError(401, 'unauthorized', 'unknown token');
    if (scope === 'admin' && who.scope !== 'admin') {
      throw new ApiError(403, 'forbidden', `token "${who.name}" has scope ${who.scope}; this needs admin`);
    }
    req.log = req.log.child({ operator: who.name });
  };
}

/** The name of the token requireScope accepted (it rides on the request logger's bindings), for "by" in the timeline. */
export function operatorOf(req: FastifyRequest): string | undefined {
  return (req.log as unknown as { bindings(): { operator?: string } }).bindings().operator;
}

/** OpenAPI security requirement for operator routes. */
export const bearer = [{ bearer: [] as string[] }];
