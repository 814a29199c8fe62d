// Lifecycle routes for operators: reimage (admin) and the server-sent event stream
// of transitions (read).
import type { ServerResponse } from 'node:http';
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { EventLog, NodeEvent } from '../events.js';
import { NODE_STATES } from '../inventory/states.js';
import type { Inventory } from '../inventory/index.js';
import type { NodeStore } from '../inventory/store.js';
import type { Lifecycle, Transition } from '../lifecycle/lifecycle.js';
import { StringEnum } from '../schema/common.js';
import { operatorOf } from './auth.js';
import { ApiError } from './errors.js';
import { errorResponses, IdParams } from './schemas.js';
import { nodeViews, NodeView } from './views.js';

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

const ReimageBody = Type.Object(
  {
    powerCycle: Type.Optional(Type.Boolean({ description: 'power-cycle through the node bmc (IPMI or Redfish)' })),
    force: Type.Optional(
      Type.Boolean({ description: 'reimage even when the drain does not finish (PodDisruptionBudgets) or fails' }),
    ),
  },
  { additionalProperties: false },
);

const ReimageResponse = Type.Object({
  node: NodeView,
  from: StringEnum(NODE_STATES),
  kubernetes: Type.Record(Type.String(), Type.Unknown()),
  power: Type.Record(Type.String(), Type.Unknown()),
});

export interface LifecycleRouteDeps {
  nodes: NodeStore;
  events: Pick<EventLog, 'since'>;
  lifecycle: Lifecycle;
  inventory: Pick<Inventory, 'warningsFor'>;
}

export function lifecycleRoutes({
  nodes,
  events,
  lifecycle,
  inventory,
}: LifecycleRouteDeps): FastifyPluginAsyncTypebox {
  const nodeView = nodeViews(nodes, lifecycle, inventory);
  return async (app) => {
    app.post(
      '/nodes/:id/reimage',
      {
        config: { scope: 'admin' },
        // Every option has a default, so an empty POST is a valid request.
        preValidation: async (req) => {
          req.body ??= {};
        },
        schema: {
          summary:
            'Arm a node for reinstall: drain it (with a kubeconfig), new node token, netboot on, ' +
            'state registered; optionally power-cycle it',
          tags: ['nodes'],
          params: IdParams,
          body: ReimageBody,
          response: { 200: ReimageResponse, ...errorResponses(400, 404, 409, 502) },
        },
      },
      async (req) => {
        const node = nodes.mustGet(req.params.id);
        const operator = operatorOf(req);
        const result = await lifecycle.reimage(node, {
          powerCycle: !!req.body.powerCycle,
          force: !!req.body.force,
          ...(operator ? { by: operator } : {}),
        });
        if (result.power.requested && !result.power.ok) {
          const why = `the power cycle failed: ${result.power.error}. Reboot it by hand.`;
          throw new ApiError(502, 'power_cycle_failed', `node ${node.name} is armed for reimage, but ${why}`);
        }
        const { kubernetes, power } = result;
        return { node: nodeView(result.node), from: result.transition.from, kubernetes, power };
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
        schema: {
          summary:
            'Server-sent events: one `data:` JSON line {node, from, to, at, reason} per state transition; ' +
            'resumes after Last-Event-ID',
          tags: ['nodes'],
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
          for (const e of events.since(last, 'state')) {
            const m = fromStateEvent(e, nodes.byId(e.nodeId)?.name);
            if (m) send(e.id, m);
          }
        }
        res.write(': connected\n\n');
        const onTransition = (t: Transition) => send(t.eventId, toMessage(t));
        lifecycle.on('transition', onTransition);
        const ping = setInterval(() => res.write(': ping\n\n'), SSE_PING_MS);
        streams.add(res);
        res.on('close', () => {
          lifecycle.off('transition', onTransition);
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
