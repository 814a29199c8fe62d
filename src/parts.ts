// Every part of the daemon, built once from the config in dependency order, each
// given only what it uses. Nothing here listens on a socket: serve.ts starts the
// services on top of these parts (and the in-process tests use them without).
import type { ApiDeps } from './api/deps.js';
import { loadApiTokens } from './api/tokens.js';
import { ClientDirectory } from './boot/clients.js';
import { BootPlane } from './boot/plane.js';
import { BootRenderer } from './boot/render.js';
import { TemplateStore } from './boot/templates.js';
import type { Endpoint } from './boot/urls.js';
import { CaptureStore } from './capture/store.js';
import type { Config } from './config.js';
import { closeDatabase, openDatabase, type Migration } from './db.js';
import { leaseHolderLookup, leaseMigrations } from './dhcp/leaseStore.js';
import { createDhcp } from './dhcp/service.js';
import { eventMigrations, EventLog } from './events.js';
import { advertisedHost, thisHost } from './host.js';
import { checkInventory } from './check/inventory.js';
import { reservationRules } from './check/addresses.js';
import { Inventory, type InventoryCheck } from './inventory/index.js';
import { inventoryMigrations } from './inventory/migrations.js';
import type { Node } from './inventory/store.js';
import { KubeClient, type KubeOps } from './kube/client.js';
import { JoinTokens } from './kube/joinTokens.js';
import { Lifecycle } from './lifecycle/lifecycle.js';
import type { Logger } from './log.js';
import { Metrics } from './metrics.js';
import { powerCycle } from './power/bmc.js';

/** Every feature's migrations; each is applied once, in this order (db.ts). */
export const MIGRATIONS: Migration[] = [...inventoryMigrations, ...eventMigrations, ...leaseMigrations];

/** Every part; the API uses the ones in ApiDeps. */
export interface Parts extends ApiDeps {
  /** Kubernetes API client; null without kubernetes.kubeconfig. */
  kube: KubeOps | null;
  joinTokens: JoinTokens;
  clients: ClientDirectory;
}

export function buildParts(config: Config, log: Logger): Parts {
  const db = openDatabase(config.dataDir, MIGRATIONS);
  try {
    const events = new EventLog(db);
    const endpoint: Endpoint = {
      advertise: advertisedHost(config),
      httpPort: config.http.port,
      tftpPort: config.tftp.port,
    };
    const renderer = new BootRenderer(config, new TemplateStore(config.templates), endpoint);
    const rules = reservationRules(config, thisHost);
    const check: InventoryCheck = (sources, store) =>
      checkInventory(sources, {
        rules,
        renderer,
        assets: config.assets,
        kubernetes: config.kubernetes,
        dhcp: config.dhcp,
        otherProfiles: () => store.listProfiles().map((p) => p.profile.name),
      });
    const inventory = new Inventory(db, events, config.inventory, log.child({ mod: 'inventory' }), check);
    const nodes = inventory.nodes;
    const tokens = loadApiTokens(config, log);
    const kubeLog = log.child({ mod: 'kube' });
    const kube = config.kubernetes.kubeconfig ? KubeClient.fromFile(config.kubernetes.kubeconfig, kubeLog) : null;
    const joinTokens = new JoinTokens(config.kubernetes, kube, kubeLog);
    const lifecycle = new Lifecycle({
      db,
      nodes,
      events,
      timeouts: config.timeouts,
      log: log.child({ mod: 'lifecycle' }),
      kube,
      drainTimeoutMs: config.kubernetes.drainTimeoutSeconds * 1000,
      powerCycle: (bmc) => powerCycle(bmc),
    });
    const metrics = new Metrics(nodes);
    metrics.follow(lifecycle);
    const clients = new ClientDirectory(nodes, leaseHolderLookup(db));
    clients.follow(lifecycle);
    const plane = new BootPlane({
      nodes,
      lifecycle,
      clients,
      renderer,
      endpoint,
      installedBoot: config.dhcp.installedBoot,
      joinTokenFor: (node) => joinTokens.joinTokenFor(node),
    });
    const plan = (mac: string, node: Node | undefined) => plane.plan(plane.subjectFor(mac, node));
    const dhcp = createDhcp({ config, db, nodes, plan, log: log.child({ mod: 'dhcp' }) });
    return {
      config,
      log,
      db,
      events,
      inventory,
      nodes,
      tokens,
      kube,
      joinTokens,
      lifecycle,
      metrics,
      endpoint,
      clients,
      plane,
      dhcp,
      rules,
      captures: new CaptureStore(),
    };
  } catch (err) {
    closeDatabase(db);
    throw err;
  }
}
