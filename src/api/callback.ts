// POST /api/v1/callback/:token: the installer's and the first boot's reports.
// Node-facing: the node's token in the path is the credential.
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { BootPlane } from '../boot/plane.js';
import { ROUTES } from '../boot/urls.js';
import { NODE_STATES } from '../inventory/states.js';
import type { NodeStore } from '../inventory/store.js';
import type { Lifecycle } from '../lifecycle/lifecycle.js';
import { CALLBACK_OUTPUT, CALLBACK_STAGES } from '../lifecycle/machine.js';
import type { Metrics } from '../metrics.js';
import { StringEnum } from '../schema/common.js';
import { ApiError } from './errors.js';
import { errorResponses } from './schemas.js';
import { outputTail, scrubSecrets } from './scrub.js';

const OUTCOMES = ['advanced', 'repeat', 'stale', 'ignored', 'none'] as const;

export interface CallbackDeps {
  nodes: Pick<NodeStore, 'findByToken'>;
  plane: Pick<BootPlane, 'tokenRefused'>;
  lifecycle: Pick<Lifecycle, 'observe'>;
  metrics: Pick<Metrics, 'callbackRefused'>;
}

export function callbackRoute({ nodes, plane, lifecycle, metrics }: CallbackDeps): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.post(
      ROUTES.callback,
      {
        schema: {
          summary: 'Installer / first-boot callback (node-facing; the node token in the path is the credential)',
          tags: ['node-facing'],
          params: Type.Object({ token: Type.String({ minLength: 1, maxLength: 128 }) }),
          body: Type.Object(
            {
              stage: StringEnum(CALLBACK_STAGES),
              message: Type.Optional(Type.String({ maxLength: 4096 })),
              output: Type.Optional(
                Type.String({
                  maxLength: CALLBACK_OUTPUT.acceptedChars,
                  description:
                    `the end of the failing command's output; the last ${CALLBACK_OUTPUT.keptBytes} bytes are ` +
                    'kept on the timeline, with secrets masked',
                }),
              ),
            },
            { additionalProperties: false },
          ),
          response: {
            200: Type.Object({ node: Type.String(), state: StringEnum(NODE_STATES), outcome: StringEnum(OUTCOMES) }),
            ...errorResponses(400, 404),
          },
        },
      },
      async (req) => {
        const { stage, message, output } = req.body;
        const { token } = req.params;
        const node = nodes.findByToken(token);
        if (!node) {
          metrics.callbackRefused(stage);
          plane.tokenRefused(`callback "${stage}"`, req.ip);
          req.log.warn({ client: req.ip, stage }, 'callback with an unknown node token refused');
          throw new ApiError(
            404,
            'not_found',
            'no node has this token (reimaged since this installer config was rendered?)',
          );
        }
        const obs = {
          kind: 'callback',
          stage,
          client: req.ip,
          ...(message !== undefined ? { message: scrubSecrets(message, [token]) } : {}),
          ...(output !== undefined ? { output: outputTail(output, [token]) } : {}),
        } as const;
        const r = lifecycle.observe(node, obs);
        if (!r) throw new ApiError(404, 'not_found', 'no node has this token');
        req.log.info({ node: node.name, stage, outcome: r.outcome, state: r.state }, 'callback');
        return { node: node.name, state: r.state, outcome: r.outcome };
      },
    );
  };
}
