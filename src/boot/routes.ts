// Node-facing HTTP: the iPXE entry script, each node's loader config by MAC, boot
// assets (with Range), and installer files behind the node's own token.
// No bearer tokens here: firmware cannot send them; the token in the path is the credential.
import { basename, dirname } from 'node:path';
import fastifyStatic from '@fastify/static';
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { resolveAsset } from '../assets.js';
import type { AppContext } from '../context.js';
import type { FirmwareArch } from './context.js';
import type { BootPlane } from './plane.js';
import type { Node } from '../inventory/store.js';
import type { InstallerFile } from './render.js';

const INSTALLER_FILES = ['user-data', 'meta-data', 'network-config', 'vendor-data', 'kickstart', 'preseed'] as const;
const TEXT = 'text/plain; charset=utf-8';

/** iPXE's ${platform} and ${buildarch} → the firmware family templates care about. */
export function firmwareArch(platform: string | undefined, arch: string | undefined): FirmwareArch {
  if (arch === 'arm64') return 'arm64';
  return platform === 'efi' ? 'uefi' : 'bios';
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The node a by-MAC boot request resolved to, for the response's timeline event. */
    bootNode: Node | null;
  }
}

/** Bytes a response carried (206: the range), from the header the reply set. */
function sentBytes(reply: FastifyReply): number {
  return Number(reply.getHeader('content-length') ?? 0);
}

export function bootRoutes(ctx: AppContext, plane: BootPlane): FastifyPluginAsyncTypebox {
  // Every successful answer is an observation on the node's timeline.
  const observe =
    (node?: (req: FastifyRequest) => Node | undefined) => async (req: FastifyRequest, reply: FastifyReply) => {
      if (reply.statusCode >= 400) return;
      plane.fileServed({
        via: 'http',
        file: req.url.split('?')[0]!.replace(/^\/+/, ''),
        bytes: sentBytes(reply),
        durationMs: reply.elapsedTime,
        client: req.ip,
        node: node?.(req),
      });
    };
  const nodeOfMacRoute = (req: FastifyRequest) => req.bootNode ?? undefined;

  return async (app) => {
    app.decorateRequest('bootNode', null);
    // sendFile only; every path is checked by resolveAsset (realpath containment) first.
    await app.register(fastifyStatic, { root: ctx.config.assets, serve: false });

    app.get(
      '/boot.ipxe',
      {
        onResponse: observe(),
        schema: { summary: 'iPXE entry script: chains to the node script by MAC', tags: ['boot'] },
      },
      async (_req, reply) => {
        return reply.type(TEXT).send(plane.renderer.entryScript().content);
      },
    );

    app.get(
      '/ipxe/:mac',
      {
        onResponse: observe(nodeOfMacRoute),
        schema: {
          summary: "The node's iPXE script (install, or local boot once installed)",
          tags: ['boot'],
          params: Type.Object({ mac: Type.String() }),
          querystring: Type.Object({ platform: Type.Optional(Type.String()), arch: Type.Optional(Type.String()) }),
        },
      },
      async (req, reply) => {
        const answer = plane.loaderConfig('ipxe', req.params.mac, firmwareArch(req.query.platform, req.query.arch));
        req.bootNode = answer.node ?? null;
        if (answer.kind !== 'config') return reply.code(404).type(TEXT).send(`${answer.reason}\n`);
        return reply.type(TEXT).send(answer.content);
      },
    );

    app.get(
      '/assets/*',
      {
        onResponse: observe(),
        schema: {
          summary: 'Boot assets (loaders, kernels, initrds); Range requests answered with 206',
          tags: ['boot'],
          params: Type.Object({ '*': Type.String() }),
        },
      },
      async (req, reply) => {
        const found = await resolveAsset(ctx.config.assets, req.params['*']);
        if (!found.ok)
          return reply
            .code(found.reason === 'not-found' || found.reason === 'not-a-file' ? 404 : 403)
            .type(TEXT)
            .send(`${found.reason}\n`);
        return reply.sendFile(basename(found.path), dirname(found.path));
      },
    );

    app.get(
      '/n/:token/:file',
      {
        schema: {
          summary: "A node's installer file (cloud-init NoCloud, kickstart, preseed), only while it provisions",
          tags: ['boot'],
          params: Type.Object({ token: Type.String({ minLength: 1 }), file: Type.String() }),
        },
      },
      async (req, reply) => {
        const file = req.params.file as InstallerFile;
        // One answer for every refusal: a wrong token and a wrong file look the same from outside.
        const refuse = () => reply.code(404).type(TEXT).send('not found\n');
        if (!(INSTALLER_FILES as readonly string[]).includes(file)) return refuse();
        const result = await plane.installerFile(req.params.token, file);
        if ('refused' in result) {
          req.log.info({ node: result.node?.name, file, reason: result.refused }, 'installer file refused');
          return refuse();
        }
        ctx.lifecycle.observe(result.node, { kind: 'installer-config', file, client: req.ip });
        plane.clients.remember(req.ip, result.node.id);
        return reply
          .type(
            file === 'user-data' || file === 'meta-data' || file === 'network-config' || file === 'vendor-data'
              ? 'text/yaml; charset=utf-8'
              : TEXT,
          )
          .send(result.rendered.content);
      },
    );
  };
}
