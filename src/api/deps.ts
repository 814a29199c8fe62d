// What the HTTP API uses of the daemon's parts (parts.ts builds them).
import type { BootPlane } from '../boot/plane.js';
import type { ReservationRules } from '../check/addresses.js';
import type { Endpoint } from '../boot/urls.js';
import type { CaptureStore } from '../capture/store.js';
import type { Config } from '../config.js';
import type { Db } from '../db.js';
import type { Dhcp } from '../dhcp/service.js';
import type { EventLog } from '../events.js';
import type { Inventory } from '../inventory/index.js';
import type { NodeStore } from '../inventory/store.js';
import type { Lifecycle } from '../lifecycle/lifecycle.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { ApiTokens } from './tokens.js';

export interface ApiDeps {
  config: Config;
  log: Logger;
  db: Db;
  events: EventLog;
  inventory: Inventory;
  nodes: NodeStore;
  tokens: ApiTokens;
  /** The only writer of node states and of the observations on their timelines. */
  lifecycle: Lifecycle;
  metrics: Metrics;
  /** Where nodes reach us. serve.ts sets httpPort once HTTP listens (config may say 0). */
  endpoint: Endpoint;
  plane: BootPlane;
  /** The DHCP decider; null when dhcp.mode is off. */
  dhcp: Dhcp | null;
  /** Which addresses a node may have reserved (refused at reload and at the API alike). */
  rules: ReservationRules;
  /** Each machine's recent DHCP and TFTP packets (in memory). */
  captures: CaptureStore;
}
