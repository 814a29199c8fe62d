// Lifecycle routes: node callbacks (node-facing, the node token is the
// credential), reimage (admin), the server-sent event stream of transitions
// (read), and Prometheus metrics (read).
import type { ServerResponse } from 'node:http';
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { AppContext } from '../context.js';
import type { NodeEvent } from '../events.js';
import { ReimageError, type Transition } from '../lifecycle/lifecycle.js';
import { CALLBACK_STAGES } from '../lifecycle/machine.js';
import { NODE_STATES } from '../inventory/schema.js';
import { StringEnum } from '../schema/common.js';
import { bearer, operatorOf, requireScope } from './auth.js';
import { ApiError, ErrorBody } from './errors.js';
import { nodeView, NodeView } from './views.js';

const errors = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 409: ErrorBody };
const OUTCOMES = ['advanced', 'repeat', 'stale', 'ignored'] as const;
/** Comment lines keep idle SSE connections open through proxies and show a dead peer. */
const SSE_PING_MS = 15_000;

/** What one SSE `data:` line carries. */
export interface TransitionMessage {
  node: string;
  from: string;
  to: string;
  at: string;
  reason: string;
}

const toMessage = (t: Pick<Transition, 'node' | 'from' | 'to' | 'at' | 'reason'>): TransitionMessage => ({
  node: t.node,
  from: t.from,
  to: t.to,
  at: new Date(t.at).toISOString(),
  reason: t.reason,
});

export function lifecycleRoutes(ctx: AppContext): FastifyPluginAsyncTypebox {
  const read = requireScope(ctx.tokens, 'read');
  const admin = requireScope(ctx.tokens, 'admin');
  return async (app) => {
    app.post(
      '/callback/:token',
      {
        schema: {
          summary: 'Installer / first-boot callback (node-facing; the node token in the path is the credential)',
          tags: ['node-facing'],
          params: Type.Object({ token: Type.String({ minLength: 1, maxLength: 128 }) }),
          body: Type.Object(
            {
              stage: StringEnum(CALLBACK_STAGES),
              message: Type.Optional(Type.String({ maxLength: 4096 })),
            },
            { additionalProperties: false },
          ),
          response: {
            200: Type.Object({ node: Type.String(), state: StringEnum(NODE_STATES), outcome: StringEnum(OUTCOMES) }),
            400: ErrorBody,
            404: ErrorBody,
          },
        },
      },
      async (req) => {
        const node = ctx.nodes.findByToken(req.params.token);
        if (!node) {
          ctx.metrics.callbackRefused(req.body.stage);
          req.log.warn({ client: req.ip, stage: req.body.stage }, 'callback with an unknown node token refused');
          throw new ApiError(
            404,
            'not_found',
            'no node has this token (reimaged since this installer config was rendered?)',
          );
        }
        const r = ctx.lifecycle.observe(node, {
          kind: 'callback',
          stage: req.body.stage,
          ...(req.body.message !== undefined ? { message: req.body.message } : {}),
          client: req.ip,
        });
        if (!r) throw new ApiError(404, 'not_found', 'no node has this token');
        req.log.info({ node: node.name, stage: req.body.stage, outcome: r.outcome, state: r.state }, 'callback');
        return { node: node.name, state: r.state, outcome: r.outcome };
      },
    );

    app.post(
      '/nodes/:id/reimage',
      {
        onRequest: admin,
        // Every option has a default, so an empty POST is a valid request.
        preValidation: async (req) => {
          req.body ??= {};
        },
        schema: {
          summary:
            'Arm a node for reinstall: drain it (with a kubeconfig), new node token, netboot on, state registered; optionally power-cycle it',
          tags: ['nodes'],
          security: bearer,
          params: Type.Object({ id: Type.String({ minLength: 1, description: 'node name or any of its MACs' }) }),
          body: Type.Object(
            {
              powerCycle: Type.Optional(
                Type.Boolean({ description: 'power-cycle through the node bmc (IPMI or Redfish)' }),
              ),
              force: Type.Optional(
                Type.Boolean({
                  description: 'reimage even when the drain does not finish (PodDisruptionBudgets) or fails',
                }),
              ),
            },
            { additionalProperties: false },
          ),
          response: {
            200: Type.Object({
              node: NodeView,
              from: StringEnum(NODE_STATES),
              kubernetes: Type.Record(Type.String(), Type.Unknown()),
              power: Type.Record(Type.String(), Type.Unknown()),
            }),
            502: ErrorBody,
            ...errors,
          },
        },
      },
      async (req) => {
        const node = ctx.nodes.mustGet(req.params.id);
        const operator = operatorOf(req);
        let result;
        try {
          result = await ctx.lifecycle.reimage(node, {
            powerCycle: !!req.body.powerCycle,
            force: !!req.body.force,
            ...(operator ? { by: operator } : {}),
          });
        } catch (err) {
          if (err instanceof ReimageError)
            throw new ApiError(err.code === 'conflict' ? 409 : 400, err.code, err.message);
          throw err;
        }
        if (result.power.requested && !result.power.ok) {
          throw new ApiError(
            502,
            'power_cycle_failed',
            `node ${node.name} is armed for reimage, but the power cycle failed: ${result.power.error}. Reboot it by hand.`,
          );
        }
        return {
          node: nodeView(result.node),
          from: result.transition.from,
          kubernetes: result.kubernetes,
          power: result.power,
        };
      },
    );

    // Open streams are ended before the server closes, or close would wait for them forever.
    const streams = new Set<ServerResponse>();
    app.addHook('preClose', async () => {
      for (const s of streams) s.end();
    });

    app.get(
      '/events',
      {
        onRequest: read,
        schema: {
          summary:
            'Server-sent events: one `data:` JSON line {node, from, to, at, reason} per state transition; resumes after Last-Event-ID',
          tags: ['nodes'],
          security: bearer,
          headers: Type.Object({ 'last-event-id': Type.Optional(Type.String({ pattern: '^\\d+$' })) }),
        },
      },
      (req, reply) => {
        reply.hijack();
        const res = reply.raw;
        res.writeHead(200, {
          'content-type': 'text/event-stream; charset=utf-8',
          'cache-control': 'no-cache',
          connection: 'keep-alive',
          'x-accel-buffering': 'no',
        });
        const send = (id: number, m: TransitionMessage) => res.write(`id: ${id}\ndata: ${JSON.stringify(m)}\n\n`);
        // A reconnecting client gets what it missed from the timeline, then the live stream.
        const last = Number(req.headers['last-event-id'] ?? 0);
        if (last > 0) {
          for (const e of ctx.events.since(last, 'state')) {
            const m = fromStateEvent(e, ctx.nodes.byId(e.nodeId)?.name);
            if (m) send(e.id, m);
          }
        }
        res.write(': connected\n\n');
        const onTransition = (t: Transition) => send(t.eventId, toMessage(t));
        ctx.lifecycle.on('transition', onTransition);
        const ping = setInterval(() => res.write(': ping\n\n'), SSE_PING_MS);
        streams.add(res);
        res.on('close', () => {
          ctx.lifecycle.off('transition', onTransition);
          clearInterval(ping);
          streams.delete(res);
        });
      },
    );
  };
}

function fromStateEvent(e: NodeEvent, name: string | undefined): TransitionMessage | null {
  const d = e.data as { from?: string; to?: string; reason?: string };
  if (!name || !d.from || !d.to) return null;
  return { node: name, from: d.from, to: d.to, at: new Date(e.ts).toISOString(), reason: d.reason ?? '' };
}

/** GET /metrics at the root, where Prometheus looks for it. */
export function metricsRoute(ctx: AppContext): FastifyPluginAsyncTypebox {
  const read = requireScope(ctx.tokens, 'read');
  return async (app) => {
    app.get(
      '/metrics',
      { onRequest: read, schema: { summary: 'Prometheus metrics (text format)', tags: ['ops'], security: bearer } },
      async (_req, reply) => reply.type(ctx.metrics.contentType).send(await ctx.metrics.text()),
    );
  };
}
