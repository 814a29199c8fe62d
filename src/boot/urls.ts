// The node-facing URL and file-name layout, defined once: the HTTP routes are
// registered from ROUTES, the template context builds its URLs with the helpers
// below, DHCP points iPXE at entryScriptUrl(), the TFTP server recognises its
// rendered files with tftpConfigName(), and logs (maskSecrets) and packet
// captures (maskSecretsKeepLength) mask the secret path segments.
import { macHyphen, normalizeMac } from '../mac.js';
import type { Loader } from './firmware.js';
import type { InstallerFile } from './installers.js';

export const ROUTES = {
  /** iPXE's entry script: every iPXE client gets it from DHCP; it chains to nodeScript. */
  entryScript: '/boot.ipxe',
  /** A node's iPXE script, by the MAC it booted from (hyphens or colons). */
  nodeScript: '/ipxe/:mac',
  /** Files under assets/: loaders for HTTP-boot firmware, kernels, initrds. */
  assets: '/assets/*',
  /** Installer files; the node's secret token is the credential. */
  installerFile: '/n/:token/:file',
  /** Installer and first-boot callbacks; the node's secret token is the credential. */
  callback: '/api/v1/callback/:token',
} as const;

/** Where nodes reach us. httpPort is the one bound (config may say 0 in tests). */
export interface Endpoint {
  advertise: string;
  httpPort: number;
  tftpPort: number;
}

/** http://<advertise>[:<port>]: the port is left out when it is 80. */
export function baseUrl(e: Pick<Endpoint, 'advertise' | 'httpPort'>): string {
  return `http://${e.advertise}${e.httpPort === 80 ? '' : `:${e.httpPort}`}`;
}

export function entryScriptUrl(base: string): string {
  return base + ROUTES.entryScript;
}

export function nodeScriptUrl(base: string, mac: string): string {
  return base + ROUTES.nodeScript.replace(':mac', macHyphen(mac));
}

/** An http(s) URL, which boot files may name instead of a path under assets/. */
export const isUrl = (p: string) => /^https?:\/\//i.test(p);

/** A path under assets/ (or an absolute http(s) URL, kept as it is). */
export function assetPath(path: string): string {
  return isUrl(path) ? path : path.replace(/^\/+/, '');
}

export function assetUrl(base: string, path: string): string {
  return isUrl(path) ? path : base + ROUTES.assets.replace('*', assetPath(path));
}

/** A node's installer file URL; with file '' the NoCloud seed directory (ends in /). */
export function installerUrl(base: string, token: string, file: InstallerFile | ''): string {
  return base + ROUTES.installerFile.replace(':token', token).replace(':file', file);
}

export function callbackUrl(base: string, token: string): string {
  return base + ROUTES.callback.replace(':token', token);
}

/** The per-node loader configs the TFTP server renders instead of reading assets/. */
export type TftpConfig = { loader: Exclude<Loader, 'ipxe'>; mac: string } | { loader: 'ipxe'; mac: null };

const HYPHEN_MAC = '([0-9a-fA-F]{2}(?:-[0-9a-fA-F]{2}){5})';
const PXELINUX = new RegExp(`^pxelinux\\.cfg/01-${HYPHEN_MAC}$`);
// GRUB looks for grub.cfg-01-<mac> next to its own prefix directory, which varies.
const GRUB = new RegExp(`(?:^|/)grub\\.cfg-01-${HYPHEN_MAC}$`);
const IPXE_AUTOEXEC = 'autoexec.ipxe';

/**
 * pxelinux.cfg/01-<mac>, [prefix/]grub.cfg-01-<mac> and autoexec.ipxe; null for
 * anything else. pxelinux also probes UUID and hex-IP names first and `default`
 * last: those are not per node and fall through to assets/ (an operator may supply one).
 */
export function tftpConfigName(path: string): TftpConfig | null {
  const name = path.replace(/^\/+/, '');
  if (name === IPXE_AUTOEXEC) return { loader: 'ipxe', mac: null };
  const px = PXELINUX.exec(name);
  if (px) return { loader: 'pxelinux', mac: normalizeMac(px[1]!)! };
  const grub = GRUB.exec(name);
  if (grub) return { loader: 'grub', mac: normalizeMac(grub[1]!)! };
  return null;
}

/** The TFTP name a loader reads its per-node config under. */
export function tftpConfigPath(loader: Exclude<Loader, 'ipxe'>, mac: string): string {
  return loader === 'pxelinux' ? `pxelinux.cfg/01-${macHyphen(mac)}` : `grub.cfg-01-${macHyphen(mac)}`;
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The path before each route's token. */
const TOKEN_PREFIXES = Object.values(ROUTES)
  .filter((route) => route.includes(':token'))
  .map((route) => escape(route.split(':token')[0]!));

/** A request URL with every node token replaced by [token], for logs. */
export function maskSecrets(url: string): string {
  let out = url;
  for (const before of TOKEN_PREFIXES) out = out.replace(new RegExp(`(${before})[^/?]+`, 'g'), '$1[token]');
  return out;
}

// Node tokens are base64url (inventory/store.ts newNodeToken).
const TOKEN_IN_TEXT = new RegExp(`(${TOKEN_PREFIXES.join('|')})([A-Za-z0-9_-]+)`, 'g');

/**
 * `bytes` (a file that may hold node-facing URLs) with every node token in them
 * overwritten by as many `*`: the same length, so a packet carrying it still parses.
 */
export function maskSecretsKeepLength(bytes: Buffer): Buffer {
  const text = bytes.toString('latin1');
  const masked = text.replace(TOKEN_IN_TEXT, (_, before: string, token: string) => before + '*'.repeat(token.length));
  return masked === text ? bytes : Buffer.from(masked, 'latin1');
}
