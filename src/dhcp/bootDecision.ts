// What a network-booting client is told to load, and why. A plain function of
// the request's fingerprint, the node and its profile: the DHCP handlers, the
// `explain` dry-run and the tests all call this one place.
//
// The chain: firmware PXE gets a first-stage loader over TFTP (by option 93 and
// the profile's loader); iPXE (user class "iPXE") gets the HTTP boot script, which
// the boot plane answers per MAC, so iPXE never gets iPXE again (no loop); UEFI
// HTTP-boot firmware (option 60 "HTTPClient", or an HTTP arch code) gets an
// absolute http:// URL and the "HTTPClient" echo it insists on (pitfalls §4.3).
import type { InstalledBoot } from '../config.js';
import type { Node } from '../inventory/store.js';
import type { Profile } from '../inventory/schema.js';
import { archOf, type ArchInfo } from './arch.js';
import { OPT, userClasses } from './options.js';
import { optString, type DhcpPacket } from './codec.js';

/** Where the HTTP boot plane serves files under assets/ (loaders for HTTP-boot firmware). */
export const HTTP_ASSET_PATH = '/assets/';
export const IPXE_SCRIPT_PATH = '/boot.ipxe';

/** The boot-relevant facts of one request. */
export interface Fingerprint {
  /** option 93 (first entry), null when absent */
  archCode: number | null;
  arch: ArchInfo;
  vendorClass: string | null;
  /** option 60 starts with PXEClient */
  pxe: boolean;
  /** option 60 starts with HTTPClient, or an HTTP-boot arch code */
  http: boolean;
  /** user class iPXE */
  ipxe: boolean;
}

export function fingerprint(p: DhcpPacket): Fingerprint {
  const arch93 = p.options.get(OPT.clientArch);
  const vendorClass = optString(p, OPT.vendorClass);
  // Some ROMs omit 93 but still say "PXEClient:Arch:00007:..." in option 60.
  const fromVendor = vendorClass ? /^(?:PXE|HTTP)Client:Arch:(\d{5})/.exec(vendorClass) : null;
  const archCode = arch93 && arch93.length >= 2 ? arch93.readUInt16BE(0) : fromVendor ? Number(fromVendor[1]) : null;
  const arch = archOf(archCode);
  const uc = p.options.get(OPT.userClass);
  return {
    archCode,
    arch,
    vendorClass,
    pxe: vendorClass?.startsWith('PXEClient') ?? false,
    http: (vendorClass?.startsWith('HTTPClient') ?? false) || arch.transport === 'http',
    ipxe: uc ? userClasses(uc).includes('iPXE') : false,
  };
}

/** A client that asked to network-boot at all; everything else gets an address only. */
export function wantsNetboot(fp: Fingerprint): boolean {
  return fp.pxe || fp.http || fp.ipxe || fp.archCode !== null;
}

export interface BootSettings {
  /** Address nodes reach the boot plane and TFTP at (siaddr, URLs). */
  serverIp: string;
  httpPort: number;
  /** Installed nodes (netboot off): config dhcp.installedBoot. */
  installedBoot: InstalledBoot;
}

export type BootDecision =
  | {
      boot: true;
      /** TFTP path (also in `file`) or absolute http:// URL */
      bootFile: string;
      transport: 'tftp' | 'http';
      /** option 60 to echo: firmware ignores offers without it */
      vendorClass: 'PXEClient' | 'HTTPClient' | null;
      reason: string;
    }
  | { boot: false; reason: string };

type NodeView = Pick<Node, 'loaderFile' | 'netboot' | 'profile'>;

export function decideBoot(
  fp: Fingerprint,
  node: NodeView | undefined,
  profile: Profile | undefined,
  s: BootSettings,
): BootDecision {
  if (!wantsNetboot(fp)) return { boot: false, reason: 'not a network-boot client' };
  if (!node) return { boot: false, reason: 'unknown MAC' };
  if (!node.profile || !profile) return { boot: false, reason: 'node has no profile' };
  const base = `http://${s.serverIp}${s.httpPort === 80 ? '' : `:${s.httpPort}`}`;
  const echo = fp.http ? 'HTTPClient' : fp.pxe ? 'PXEClient' : null;

  if (!node.netboot) {
    if (s.installedBoot === 'no-boot-file')
      return { boot: false, reason: 'installed: no boot file, firmware boots from disk' };
    if (s.installedBoot === 'ipxe-script') {
      if (!fp.ipxe) return { boot: false, reason: 'installed: no boot file, firmware boots from disk' };
      return {
        boot: true,
        bootFile: base + IPXE_SCRIPT_PATH,
        transport: 'http',
        vendorClass: echo,
        reason: 'installed: iPXE gets the script, which boots the local disk',
      };
    }
    // full-chain: answer as for a netbooting node; the boot plane sends it to disk.
  }

  if (fp.ipxe && profile.loader === 'ipxe') {
    return {
      boot: true,
      bootFile: base + IPXE_SCRIPT_PATH,
      transport: 'http',
      vendorClass: echo,
      reason: 'iPXE client: boot script',
    };
  }
  const file = node.loaderFile ?? fp.arch.files[profile.loader];
  if (!file) return { boot: false, reason: `no ${profile.loader} loader for ${fp.arch.name}` };
  const why = node.loaderFile ? 'per-node loaderFile' : `${profile.loader} loader for ${fp.arch.name}`;
  if (fp.http) {
    return {
      boot: true,
      bootFile: base + HTTP_ASSET_PATH + file,
      transport: 'http',
      vendorClass: 'HTTPClient',
      reason: `HTTP boot: ${why}`,
    };
  }
  return { boot: true, bootFile: file, transport: 'tftp', vendorClass: echo, reason: why };
}
