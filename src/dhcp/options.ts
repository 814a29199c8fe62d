// The DHCP options rackjoin reads or writes (RFC 2132 and friends), as data:
// code -> name and wire type. The codec keeps every option as raw bytes; this
// table says how to encode a value and how to show a received option to a human
// (node timelines). Options not listed here are kept and shown as hex.
import { intToIp } from '../ip.js';

export type OptionType =
  | 'ip' // one IPv4 address
  | 'ips' // a list of IPv4 addresses
  | 'u8'
  | 'u16'
  | 'u32'
  | 'u8s' // list of codes (55)
  | 'u16s' // list of 16-bit values (93)
  | 'string'
  | 'bytes'
  | 'userclass' // 77: RFC 3004 length-prefixed list, or (iPXE, most clients) a raw string
  | 'encap'; // encapsulated sub-options (43, 82, 175)

export interface OptionDef {
  name: string;
  type: OptionType;
}

export const OPT = {
  subnetMask: 1,
  router: 3,
  dns: 6,
  hostname: 12,
  domainName: 15,
  broadcast: 28,
  vendorSpecific: 43,
  requestedIp: 50,
  leaseTime: 51,
  overload: 52,
  messageType: 53,
  serverId: 54,
  paramRequest: 55,
  maxMessageSize: 57,
  renewalTime: 58,
  rebindingTime: 59,
  vendorClass: 60,
  clientId: 61,
  tftpServer: 66,
  bootfile: 67,
  userClass: 77,
  relayAgent: 82,
  clientArch: 93,
  clientNdi: 94,
  clientUuid: 97,
  ipxe: 175,
} as const;

export const OPTIONS: ReadonlyMap<number, OptionDef> = new Map<number, OptionDef>([
  [1, { name: 'subnet-mask', type: 'ip' }],
  [3, { name: 'router', type: 'ips' }],
  [6, { name: 'dns', type: 'ips' }],
  [12, { name: 'hostname', type: 'string' }],
  [15, { name: 'domain-name', type: 'string' }],
  [28, { name: 'broadcast-address', type: 'ip' }],
  [43, { name: 'vendor-specific', type: 'encap' }],
  [50, { name: 'requested-ip', type: 'ip' }],
  [51, { name: 'lease-time', type: 'u32' }],
  [52, { name: 'overload', type: 'u8' }],
  [53, { name: 'message-type', type: 'u8' }],
  [54, { name: 'server-id', type: 'ip' }],
  [55, { name: 'parameter-request-list', type: 'u8s' }],
  [57, { name: 'max-message-size', type: 'u16' }],
  [58, { name: 'renewal-time', type: 'u32' }],
  [59, { name: 'rebinding-time', type: 'u32' }],
  [60, { name: 'vendor-class', type: 'string' }],
  [61, { name: 'client-id', type: 'bytes' }],
  [66, { name: 'tftp-server', type: 'string' }],
  [67, { name: 'bootfile', type: 'string' }],
  [77, { name: 'user-class', type: 'userclass' }],
  [82, { name: 'relay-agent', type: 'encap' }],
  [93, { name: 'client-arch', type: 'u16s' }],
  [94, { name: 'client-ndi', type: 'bytes' }],
  [97, { name: 'client-uuid', type: 'bytes' }],
  [175, { name: 'ipxe', type: 'encap' }],
]);

export const MESSAGE_TYPES = [
  '',
  'DISCOVER',
  'OFFER',
  'REQUEST',
  'DECLINE',
  'ACK',
  'NAK',
  'RELEASE',
  'INFORM',
] as const;

/** Sub-options of an encapsulated option, in order; null when the bytes do not parse. */
export function parseSubOptions(data: Buffer): [number, Buffer][] | null {
  const out: [number, Buffer][] = [];
  let i = 0;
  while (i < data.length) {
    const code = data[i]!;
    if (code === 0) {
      i++;
      continue;
    }
    if (code === 255) break;
    if (i + 1 >= data.length) return null;
    const len = data[i + 1]!;
    if (i + 2 + len > data.length) return null;
    out.push([code, data.subarray(i + 2, i + 2 + len)]);
    i += 2 + len;
  }
  return out;
}

/**
 * Option 82's sub-options (RFC 3046 §2.0), or null when the option is malformed:
 * empty, or a sub-option runs past its end. A malformed option counts as absent:
 * no link selection is read from it and it is not echoed (reply.ts).
 */
export function relayAgentSubOptions(data: Buffer): [number, Buffer][] | null {
  const subs = parseSubOptions(data);
  return subs && subs.length > 0 ? subs : null;
}

export function encodeSubOptions(subs: readonly (readonly [number, Buffer])[], end = false): Buffer {
  const parts: Buffer[] = [];
  for (const [code, value] of subs) parts.push(Buffer.from([code, value.length]), value);
  if (end) parts.push(Buffer.from([255]));
  return Buffer.concat(parts);
}

/**
 * Option 77 values. RFC 3004 wants length-prefixed entries, but iPXE and
 * dhclient send one raw string ("iPXE"). Both readings are returned when the
 * bytes also parse as RFC 3004, so a match on either works.
 */
export function userClasses(data: Buffer): string[] {
  const raw = data.toString('latin1');
  const out = [raw];
  let i = 0;
  const rfc: string[] = [];
  while (i < data.length) {
    const len = data[i]!;
    if (len === 0 || i + 1 + len > data.length) return out;
    rfc.push(data.toString('latin1', i + 1, i + 1 + len));
    i += 1 + len;
  }
  return out.concat(rfc);
}

function printable(data: Buffer): string | null {
  for (const b of data) if (b < 0x20 || b > 0x7e) return null;
  return data.toString('latin1');
}

/** A received option as something readable in a timeline or a log line. */
export function describeOption(code: number, data: Buffer): unknown {
  const def = OPTIONS.get(code);
  const hex = data.toString('hex');
  if (!def) return hex;
  switch (def.type) {
    case 'ip':
      return data.length === 4 ? intToIp(data.readUInt32BE(0)) : hex;
    case 'ips':
      if (data.length === 0 || data.length % 4 !== 0) return hex;
      return Array.from({ length: data.length / 4 }, (_, i) => intToIp(data.readUInt32BE(i * 4)));
    case 'u8':
      if (code === OPT.messageType && data.length === 1) return MESSAGE_TYPES[data[0]!] || data[0];
      return data.length === 1 ? data[0] : hex;
    case 'u16':
      return data.length === 2 ? data.readUInt16BE(0) : hex;
    case 'u32':
      return data.length === 4 ? data.readUInt32BE(0) : hex;
    case 'u8s':
      return [...data];
    case 'u16s':
      if (data.length === 0 || data.length % 2 !== 0) return hex;
      return Array.from({ length: data.length / 2 }, (_, i) => data.readUInt16BE(i * 2));
    case 'string':
      return printable(data) ?? hex;
    case 'userclass':
      return printable(data) ?? userClasses(data).slice(1);
    case 'encap': {
      const subs = parseSubOptions(data);
      if (!subs) return hex;
      return Object.fromEntries(subs.map(([c, v]) => [String(c), printable(v) ?? v.toString('hex')]));
    }
    case 'bytes':
      return hex;
  }
}

/** All options of a packet, keyed "<code> <name>", for events. */
export function describeOptions(options: ReadonlyMap<number, Buffer>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [code, data] of options)
    out[`${code} ${OPTIONS.get(code)?.name ?? 'unknown'}`] = describeOption(code, data);
  return out;
}

// ---- encoding helpers: reply options are [code, bytes] pairs ----------------

export type OptionPair = [number, Buffer];

export function ipBytes(...ips: number[]): Buffer {
  const b = Buffer.allocUnsafe(4 * ips.length);
  ips.forEach((ip, i) => b.writeUInt32BE(ip >>> 0, i * 4));
  return b;
}

export function u32Bytes(n: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32BE(n >>> 0, 0);
  return b;
}
