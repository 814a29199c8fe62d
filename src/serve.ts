// `rackjoin serve`: build the context, load the inventory, start HTTP and the
// boot services, and take them all down again in reverse order.
import type { Config } from './config.js';
import { createContext, type AppContext } from './context.js';
import { closeDatabase } from './db.js';
import { buildApp } from './api/app.js';
import type { Logger } from './log.js';

export interface Daemon {
  ctx: AppContext;
  /** The HTTP port actually bound (config may say 0 in tests). */
  httpPort: number;
  close(): Promise<void>;
}

export async function startDaemon(config: Config, log: Logger): Promise<Daemon> {
  const ctx = createContext(config, log);
  const closers: (() => unknown)[] = [() => closeDatabase(ctx.db)];
  const closeAll = async () => {
    for (const close of closers.splice(0)) {
      try {
        await close();
      } catch (err) {
        log.error({ err }, 'error while shutting down');
      }
    }
  };
  try {
    // A broken inventory stops the start: the database keeps the last good one,
    // and the operator sees the file and line instead of a half-provisioned rack.
    ctx.inventory.reload();

    const app = await buildApp(ctx);
    await app.listen({ port: config.http.port, host: config.http.host });
    closers.unshift(() => app.close());
    const address = app.server.address();
    const httpPort = typeof address === 'object' && address ? address.port : config.http.port;

    // ---- boot services (DHCP, TFTP) start here; each pushes its close() to the front ----

    log.info({ http: `${config.http.host}:${httpPort}`, dhcp: config.dhcp.mode, dataDir: config.dataDir }, 'rackjoin ready');
    return { ctx, httpPort, close: closeAll };
  } catch (err) {
    await closeAll();
    throw err;
  }
}
