// The whole site check: the config's meaning, then the inventory files against it
// (addresses, profiles, templates, assets). `rackjoin check` prints it; `serve`
// runs it before it opens the database, so an error refuses the start with
// nothing written; each reload runs the inventory half (inventory/index.ts).
import { BootRenderer } from '../boot/render.js';
import { TemplateStore } from '../boot/templates.js';
import type { Config, Locate } from '../config.js';
import { advertisedHost, hostAddresses, type HostView } from '../host.js';
import { InventoryFileError, readInventoryDir, type InventorySource } from '../inventory/files.js';
import { reservationRules } from './addresses.js';
import { checkConfig } from './config.js';
import { error, type Finding } from '../findings.js';
import { checkInventory, installerVariables, type ProfileVariables } from './inventory.js';

export interface SiteCheck {
  /** The config's findings, then the inventory's. */
  findings: Finding[];
  /** How many of `findings` are the config's (the rest are the inventory's). */
  configFindings: number;
  /** The interface DHCP is to serve (see checkConfig); null with DHCP off or when refused. */
  servedInterface: string | null;
  /** Each installer profile's template variables and their values (for its first node). */
  variables: ProfileVariables[];
}

/** Everything `rackjoin check` checks. Reads files only: no database, no sockets. */
export function checkSite(config: Config, locate: Locate, host: HostView): SiteCheck {
  const { findings, servedInterface, usable } = checkConfig(config, locate, host);
  const configFindings = findings.length;
  const served = servedInterface && !config.interface ? { ...usable, interface: servedInterface } : usable;
  let sources: InventorySource[] = [];
  try {
    sources = readInventoryDir(config.inventory);
  } catch (err) {
    if (!(err instanceof InventoryFileError)) throw err;
    const where = err.line ? `${err.file}:${err.line}` : err.file;
    findings.push(error(where, err.message.slice(err.message.indexOf(': ') + 2)));
  }
  const endpoint = {
    advertise: advertisedHost(served, hostAddresses(host, served.interface)),
    httpPort: config.http.port,
    tftpPort: config.tftp.port,
  };
  const renderer = new BootRenderer(served, new TemplateStore(config.templates), endpoint);
  const deps = {
    rules: reservationRules(served, host),
    renderer,
    assets: config.assets,
    kubernetes: config.kubernetes,
    dhcp: served.dhcp,
  };
  findings.push(...checkInventory(sources, { ...deps, otherProfiles: null }));
  return { findings, configFindings, servedInterface, variables: installerVariables(sources, renderer) };
}
