// `rackjoin serve`: build the context, load the inventory, start HTTP and the
// boot services, and take them all down again in reverse order.
import type { Config } from './config.js';
import { createContext, type AppContext } from './context.js';
import { closeDatabase } from './db.js';
import { buildApp } from './api/app.js';
import type { Logger } from './log.js';
import { startDhcpServer } from './dhcp/server.js';
import { startTftpServer } from './tftp/server.js';
import { resolveAsset } from './assets.js';
import { startTimeoutSweeper } from './lifecycle/sweeper.js';
import { startKubeIntegration } from './kube/integration.js';

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
    ctx.server.httpPort = httpPort;

    // ---- boot services (DHCP, TFTP) start here; each pushes its close() to the front ----
    const dhcp = await startDhcpServer({
      config,
      db: ctx.db,
      nodes: ctx.nodes,
      events: ctx.events,
      log: log.child({ mod: 'dhcp' }),
      httpPort,
      // The DHCP server writes the exchange (options in and out) to the timeline itself.
      onBootOffer: (node, offer) => {
        // The address we hand out is how TFTP and HTTP will know this node next.
        if (offer.yiaddr) ctx.boot.clients.remember(offer.yiaddr, node.id);
        ctx.lifecycle.observe(node, {
          kind: 'dhcp-offer',
          mode: offer.proxy ? 'proxy' : config.dhcp.mode,
          bootFile: offer.bootFile,
          client: offer.yiaddr ?? node.macs[0] ?? 'unknown',
          recorded: true,
        });
      },
    });
    closers.unshift(() => dhcp.close());
    ctx.metrics.addSource({
      subsystem: 'dhcp',
      stats: () => ({ ...dhcp.stats() }),
      labels: { received: 'type', sent: 'type', dropped: 'reason' },
      help: {
        received: 'DHCP packets received, by message type (invalid = unparseable)',
        sent: 'DHCP replies sent, by message type',
        dropped: 'DHCP requests not answered, by reason',
      },
    });

    if (config.tftp.enabled) {
      const tftp = await startTftpServer({
        host: config.http.host,
        port: config.tftp.port,
        blksizeMax: config.tftp.blksizeMax,
        windowsizeMax: config.tftp.windowsizeMax,
        log: log.child({ mod: 'tftp' }),
        // Per-node configs are rendered (pxelinux.cfg/01-<mac>, grub.cfg-01-<mac>,
        // autoexec.ipxe); everything else is a file under assets/, contained by realpath.
        async resolve(req) {
          const rendered = ctx.boot.tftpFile(req.path);
          if (rendered) return { data: rendered.content, ...(rendered.node ? { node: rendered.node.name } : {}) };
          const asset = await resolveAsset(config.assets, req.path);
          return asset.ok ? { path: asset.path } : null;
        },
        onTransfer(rec) {
          if (rec.status !== 'ok') return;
          ctx.boot.fileServed({
            via: 'tftp',
            file: rec.path,
            bytes: rec.bytes,
            durationMs: rec.durationMs,
            client: rec.peer.address,
            node: rec.node ? ctx.nodes.get(rec.node) : undefined,
          });
        },
      });
      closers.unshift(() => tftp.close());
      ctx.metrics.addSource({
        subsystem: 'tftp',
        stats: () => {
          const { dropped, ...counts } = tftp.stats();
          return { ...counts, dropped: { ...dropped } };
        },
        labels: { dropped: 'reason' },
        gauges: ['active'],
        help: { dropped: 'TFTP requests and packets dropped, by reason', active: 'TFTP transfers in flight' },
      });
    }

    // ---- lifecycle: stage timeouts, and the cluster side with a kubeconfig ----
    closers.unshift(startTimeoutSweeper(ctx.lifecycle, config.timeouts, log.child({ mod: 'lifecycle' })));
    if (ctx.kube) {
      const stopKube = await startKubeIntegration({
        kube: ctx.kube,
        lifecycle: ctx.lifecycle,
        nodes: ctx.nodes,
        events: ctx.events,
        joinTokens: ctx.joinTokens,
        log: log.child({ mod: 'kube' }),
      });
      closers.unshift(stopKube);
    }

    log.info(
      { http: `${config.http.host}:${httpPort}`, dhcp: config.dhcp.mode, dataDir: config.dataDir },
      'rackjoin ready',
    );
    return { ctx, httpPort, close: closeAll };
  } catch (err) {
    await closeAll();
    throw err;
  }
}
