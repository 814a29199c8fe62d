// clientDirectory: which node a TFTP or HTTP client is, so that every file served
// lands on the right timeline. Firmware does not say who it is when it fetches a
// kernel; its IP does. We learn IP → node from the boot plane's own by-MAC
// requests and DHCP offers, then fall back to DHCP leases and reserved IPs.
import type { Db } from '../db.js';
import type { Profile } from '../inventory/schema.js';
import type { Node, NodeStore } from '../inventory/store.js';
import type { FileRole } from '../lifecycle/machine.js';

/** An address stays attributed this long after we last saw it tied to a node. */
const REMEMBER_MS = 60 * 60 * 1000;
const MAX_REMEMBERED = 10_000;

/** First-stage loaders and their helper modules, by file name. */
const LOADER_FILE =
  /(^|\/)(undionly\.kpxe|ipxe[-\w]*\.efi|snponly[-\w]*\.efi|[\w-]*\.kpxe|l?pxelinux\.0|[\w]+\.c32|syslinux\w*\.efi|grub\w*\.efi(\.signed)?|shim\w*\.efi(\.signed)?|core\.0|bootx64\.efi)$/i;
const BOOT_CONFIG = /(^|\/)(pxelinux\.cfg\/.+|grub\.cfg.*|autoexec\.ipxe|boot\.ipxe)$|^ipxe\//;

/** What a served file is to the node's progress. */
export function fileRole(profile: Profile | null, file: string): FileRole {
  const name = file.replace(/^\/+/, '').replace(/^assets\//, '');
  if (profile) {
    const strip = (p: string) => p.replace(/^\/+/, '');
    if (strip(profile.kernel) === name || profile.kernel.endsWith(`/${name}`)) return 'kernel';
    if (profile.initrd.some((i) => strip(i) === name || i.endsWith(`/${name}`))) return 'initrd';
  }
  if (BOOT_CONFIG.test(name)) return 'boot-config';
  if (LOADER_FILE.test(name)) return 'loader';
  return 'asset';
}

export class ClientDirectory {
  private readonly recent = new Map<string, { nodeId: number; at: number }>();
  private readonly leaseByIp;

  constructor(
    db: Db,
    private readonly nodes: NodeStore,
    private readonly now: () => number = Date.now,
  ) {
    this.leaseByIp = db.prepare(`SELECT mac FROM dhcp_leases WHERE ip = ? AND state = 'bound' AND expires > ?`).pluck();
  }

  remember(ip: string, nodeId: number): void {
    if (!ip || ip === '0.0.0.0') return;
    this.recent.delete(ip);
    this.recent.set(ip, { nodeId, at: this.now() });
    // Map iteration is insertion order: the first entry is the oldest.
    if (this.recent.size > MAX_REMEMBERED) this.recent.delete(this.recent.keys().next().value!);
  }

  nodeFor(ip: string): Node | undefined {
    const seen = this.recent.get(ip);
    if (seen && this.now() - seen.at < REMEMBER_MS) {
      const node = this.nodes.byId(seen.nodeId);
      if (node) return node;
    }
    const leased = this.leaseByIp.get(ip, this.now()) as string | undefined;
    if (leased) return this.nodes.findByMac(leased);
    return this.nodes.findByIp(ip);
  }
}
