// The daemon's context and HTTP app in-process (fastify inject), on a temp
// workspace: for API tests that need no sockets. Logs are captured as text.
import { PassThrough } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { buildConfig } from '../../src/config.js';
import { buildParts, type Parts } from '../../src/parts.js';
import { closeDatabase } from '../../src/db.js';
import { createServer, registerRoutes } from '../../src/api/app.js';
import { createLogger } from '../../src/log.js';
import { TOKENS, workspace, type Workspace } from './daemon.js';

interface Teardownable {
  teardown(fn: () => unknown): void;
}

export interface InjectResult {
  status: number;
  /** Parsed JSON for JSON responses, else the text. */
  body: any;
  raw: Buffer;
  headers: Record<string, string | string[] | number | undefined>;
}

export interface InProcess {
  ws: Workspace;
  /** The daemon's parts, as serve builds them. */
  ctx: Parts;
  /** Every route the app registered, as fastify saw it. */
  routes: { method: string; url: string }[];
  app: FastifyInstance;
  call(
    method: string,
    url: string,
    opts?: { token?: string; body?: unknown; headers?: Record<string, string> },
  ): Promise<InjectResult>;
  tokenOf(node: string): string;
  logs(): string;
}

/**
 * @param inventory written to inventory/main.yaml and loaded
 * @param config extra config keys; `root` is the workspace root, for paths inside it
 */
export async function inProcessApp(
  t: Teardownable,
  inventory: unknown,
  config: (ws: Workspace) => Record<string, unknown> = () => ({}),
): Promise<InProcess> {
  const ws = workspace(t);
  ws.writeInventory('main.yaml', inventory);
  const cfg = buildConfig(
    {
      dataDir: ws.dataDir,
      inventory: ws.inventoryDir,
      api: {
        tokens: [
          { name: 'ops', token: TOKENS.admin, scope: 'admin' },
          { name: 'dash', token: TOKENS.read, scope: 'read' },
        ],
      },
      ...config(ws),
    },
    'test',
    { isRoot: false },
    ws.root,
  );
  const logStream = new PassThrough();
  let logText = '';
  logStream.on('data', (d) => (logText += d));
  const ctx = buildParts(cfg, createLogger({ level: 'debug', destination: logStream }));
  ctx.inventory.reload();
  const app = createServer(ctx.log);
  const routes: { method: string; url: string }[] = [];
  app.addHook('onRoute', (r) => {
    for (const method of [r.method].flat()) routes.push({ method, url: r.url });
  });
  await registerRoutes(app, ctx);
  t.teardown(async () => {
    await app.close();
    closeDatabase(ctx.db);
  });
  return {
    ws,
    ctx,
    routes,
    app,
    async call(method, url, opts = {}) {
      const res = await app.inject({
        method: method as 'GET',
        url,
        headers: {
          ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}),
          // A string body is sent as raw JSON text (to test malformed JSON).
          ...(typeof opts.body === 'string' ? { 'content-type': 'application/json' } : {}),
          ...opts.headers,
        },
        ...(opts.body !== undefined ? { payload: opts.body as object } : {}),
      });
      const json = res.headers['content-type']?.toString().startsWith('application/json');
      return {
        status: res.statusCode,
        body: json && res.body ? JSON.parse(res.body) : res.body,
        raw: res.rawPayload,
        headers: res.headers,
      };
    },
    tokenOf: (name) => ctx.nodes.tokenOf(ctx.nodes.get(name)!.id),
    logs: () => logText,
  };
}
