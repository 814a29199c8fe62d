// Node-facing HTTP: the iPXE entry script, each node's iPXE script by MAC, boot
// assets (with Range), and installer files behind the node's own token. No bearer
// tokens here (firmware cannot send them): the token in the path is the credential.
// Each boot-file handler says what it served; one onResponse hook records it on the
// timeline once the file went out. An installer file is recorded as it is handed over.
import { basename, dirname } from 'node:path';
import fastifyStatic from '@fastify/static';
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply } from 'fastify';
import { resolveAsset } from '../assets.js';
import type { Node } from '../inventory/store.js';
import type { Lifecycle } from '../lifecycle/lifecycle.js';
import type { FileRole } from '../lifecycle/machine.js';
import { normalizeMac } from '../mac.js';
import { ipxeFirmware } from './firmware.js';
import { contentType, isInstallerFile } from './installers.js';
import type { BootPlane } from './plane.js';
import { ROUTES } from './urls.js';
import { shown } from '../untrusted.js';

const TEXT = 'text/plain; charset=utf-8';

/** What a node-facing handler served, for the timeline. */
interface Served {
  node?: Node;
  role?: FileRole;
  asset?: string;
}

declare module 'fastify' {
  interface FastifyRequest {
    served: Served | null;
  }
}

const requestPath = (url: string) => url.split('?')[0]!.replace(/^\/+/, '');

/** Bytes a response carried (206: the range), from the header the reply set. */
function sentBytes(reply: FastifyReply): number {
  return Number(reply.getHeader('content-length') ?? 0);
}

export interface BootRouteDeps {
  plane: BootPlane;
  lifecycle: Pick<Lifecycle, 'observe'>;
  assets: string;
}

export function bootRoutes({ plane, lifecycle, assets }: BootRouteDeps): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.decorateRequest('served', null);
    // sendFile only; every path is checked by resolveAsset (realpath containment) first.
    await app.register(fastifyStatic, { root: assets, serve: false });

    // Every successful answer is an observation on the node's timeline.
    app.addHook('onResponse', async (req, reply) => {
      const served = req.served;
      if (!served || reply.statusCode >= 400) return;
      plane.served({
        via: 'http',
        file: requestPath(req.url),
        bytes: sentBytes(reply),
        durationMs: reply.elapsedTime,
        client: req.ip,
        node: served.node,
        role: served.role,
        asset: served.asset,
      });
    });

    app.get(
      ROUTES.entryScript,
      { schema: { summary: 'iPXE entry script: chains to the node script by MAC', tags: ['boot'] } },
      async (req, reply) => {
        req.served = { role: 'boot-config' };
        return reply.type(TEXT).send(plane.entryScript().content);
      },
    );

    app.get(
      ROUTES.nodeScript,
      {
        schema: {
          summary: "The node's iPXE script (install, or local boot once installed)",
          tags: ['boot'],
          params: Type.Object({ mac: Type.String() }),
          querystring: Type.Object({ platform: Type.Optional(Type.String()), arch: Type.Optional(Type.String()) }),
        },
      },
      async (req, reply) => {
        const mac = normalizeMac(req.params.mac);
        if (!mac) return reply.code(404).type(TEXT).send(`"${req.params.mac}" is not a MAC address\n`);
        const subject = plane.machine(mac);
        req.served = { node: subject.node, role: 'boot-config' };
        const firmware = ipxeFirmware(req.query.platform, req.query.arch);
        const answer = plane.loaderConfig(subject, 'ipxe', firmware, plane.loaderSecrets(subject.node));
        if (!answer.ok && answer.error) {
          plane.renderFailed(subject.node, 'http', requestPath(req.url), answer.error, req.ip);
          return reply.code(500).type(TEXT).send(`rackjoin: ${answer.reason}\n`);
        }
        if (!answer.ok) return reply.code(404).type(TEXT).send(`${answer.reason}\n`);
        return reply.type(TEXT).send(answer.rendered.content);
      },
    );

    app.get(
      ROUTES.assets,
      {
        schema: {
          summary: 'Boot assets (loaders, kernels, initrds); Range requests answered with 206',
          tags: ['boot'],
          params: Type.Object({ '*': Type.String() }),
        },
      },
      async (req, reply) => {
        const found = await resolveAsset(assets, req.params['*']);
        if (!found.ok) {
          const status = found.reason === 'not-found' || found.reason === 'not-a-file' ? 404 : 403;
          const detail = `not served from assets/ (${found.reason}): HTTP ${status}`;
          plane.failed({ what: 'missing', via: 'http', file: shown(req.params['*']), detail }, req.ip);
          return reply.code(status).type(TEXT).send(`${found.reason}\n`);
        }
        req.served = { asset: req.params['*'] };
        return reply.sendFile(basename(found.path), dirname(found.path));
      },
    );

    app.get(
      ROUTES.installerFile,
      {
        schema: {
          summary: "A node's installer file (cloud-init NoCloud, kickstart, preseed), only while it provisions",
          tags: ['boot'],
          params: Type.Object({ token: Type.String({ minLength: 1 }), file: Type.String() }),
        },
      },
      async (req, reply) => {
        const { token, file } = req.params;
        // One answer for every refusal: a wrong token and a wrong file look the same from outside.
        const refuse = () => reply.code(404).type(TEXT).send('not found\n');
        if (!isInstallerFile(file)) return refuse();
        const answer = await plane.installerFileFor(token, file);
        if (!answer.ok && !answer.node) plane.tokenRefused(`installer file ${file}`, req.ip);
        if (!answer.ok && answer.error) {
          plane.renderFailed(answer.node!, 'http', file, answer.error, req.ip);
          return reply.code(500).type(TEXT).send(`rackjoin: installer config ${file} failed to render\n`);
        }
        if (!answer.ok) {
          req.log.info({ node: answer.node?.name, file, reason: answer.reason }, 'installer file refused');
          return refuse();
        }
        // Recorded before it leaves (as before): once the installer holds its config, the node is installing.
        lifecycle.observe(answer.node!, { kind: 'installer-config', file, client: req.ip });
        return reply.type(contentType(file)).send(answer.rendered.content);
      },
    );
  };
}
