// Everything the daemon's parts share, built once from the config.
import type { Config } from './config.js';
import { closeDatabase, openDatabase, type Db, type Migration } from './db.js';
import { EventLog } from './events.js';
import { Inventory } from './inventory/index.js';
import { inventoryMigrations } from './inventory/migrations.js';
import { leaseMigrations } from './dhcp/leaseStore.js';
import type { NodeStore } from './inventory/store.js';
import type { Logger } from './log.js';
import { loadApiTokens, type ApiTokens } from './api/tokens.js';
import { BootPlane } from './boot/plane.js';
import type { ServerAddress } from './boot/context.js';
import { localAddresses } from './dhcp/network.js';
import { intToIp } from './ip.js';
import { Lifecycle } from './lifecycle/lifecycle.js';
import { KubeClient, type KubeOps } from './kube/client.js';
import { JoinTokens } from './kube/joinTokens.js';
import { Metrics } from './metrics.js';
import { powerCycle } from './power/bmc.js';

export interface AppContext {
  config: Config;
  log: Logger;
  db: Db;
  inventory: Inventory;
  nodes: NodeStore;
  events: EventLog;
  tokens: ApiTokens;
  /** Where nodes reach us. httpPort is updated once the HTTP server listens (config may say 0). */
  server: ServerAddress;
  boot: BootPlane;
  /** The only writer of node states: services call lifecycle.observe(node, observation). */
  lifecycle: Lifecycle;
  /** Kubernetes API client; null without kubernetes.kubeconfig. */
  kube: KubeOps | null;
  /** joinTokenFor(node): the kubeadm token an installer config renders. */
  joinTokens: JoinTokens;
  metrics: Metrics;
}

/** config.advertise, else the provisioning interface's first IPv4 address, else any non-loopback one. */
export function advertiseAddress(config: Config): string {
  if (config.advertise) return config.advertise;
  const [first] = localAddresses(config.interface);
  return first === undefined ? '127.0.0.1' : intToIp(first);
}

/** Every feature's migrations, in the order they first shipped. */
export const MIGRATIONS: Migration[] = [...inventoryMigrations, ...leaseMigrations];

export function createContext(config: Config, log: Logger): AppContext {
  const db = openDatabase(config.dataDir, MIGRATIONS);
  try {
    const inventory = new Inventory(db, config.inventory, log.child({ mod: 'inventory' }));
    const ctx = {
      config,
      log,
      db,
      inventory,
      nodes: inventory.nodes,
      events: new EventLog(db),
      tokens: loadApiTokens(config, log),
      server: { advertise: advertiseAddress(config), httpPort: config.http.port, tftpPort: config.tftp.port },
    } as AppContext;
    ctx.boot = new BootPlane(ctx, { server: () => ctx.server });
    ctx.kube = config.kubernetes.kubeconfig
      ? KubeClient.fromFile(config.kubernetes.kubeconfig, log.child({ mod: 'kube' }))
      : null;
    ctx.joinTokens = new JoinTokens(config.kubernetes, ctx.kube, log.child({ mod: 'kube' }));
    ctx.lifecycle = new Lifecycle({
      db,
      nodes: ctx.nodes,
      events: ctx.events,
      timeouts: config.timeouts,
      log: log.child({ mod: 'lifecycle' }),
      kube: ctx.kube,
      drainTimeoutMs: config.kubernetes.drainTimeoutSeconds * 1000,
      powerCycle: (bmc) => powerCycle(bmc),
    });
    ctx.metrics = new Metrics(ctx.nodes);
    ctx.metrics.follow(ctx.lifecycle);
    return ctx;
  } catch (err) {
    closeDatabase(db);
    throw err;
  }
}
