// Operator routes: `Authorization: Bearer <token>`; read tokens may look, admin
// tokens may also change. Set once on the operator context (operator.ts), so no
// route can be left open by forgetting it: a route's scope is its `config.scope`,
// else admin for anything that is not a GET.
import type { FastifyReply, FastifyRequest, onRequestHookHandler } from 'fastify';
import { ApiError } from './errors.js';
import type { ApiTokens, Scope } from './tokens.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** What an operator route needs; default: read for GET and HEAD, admin for everything else. */
    scope?: Scope;
  }
}

function scopeOf(method: string, declared: Scope | undefined): Scope {
  return declared ?? (method === 'GET' || method === 'HEAD' ? 'read' : 'admin');
}

export function requireToken(tokens: ApiTokens): onRequestHookHandler {
  return async function checkBearer(req: FastifyRequest, _reply: FastifyReply) {
    const scope = scopeOf(req.method, req.routeOptions.config.scope);
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

/** The name of the token the hook accepted (it rides on the request logger's bindings), for "by" in the timeline. */
export function operatorOf(req: FastifyRequest): string | undefined {
  return (req.log as unknown as { bindings(): { operator?: string } }).bindings().operator;
}
