// IPv4 addresses as unsigned 32-bit numbers: the DHCP fast path compares and
// allocates numbers, TFTP transfers compare and send to them; dotted strings
// appear only at the edges (config, DB, events).

/** A dotted quad as a number; throws on anything else. Reads characters, allocates nothing (hot path). */
export function ipToInt(s: string): number {
  let n = 0;
  let part = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 48 && c <= 57 && digits < 3) {
      part = part * 10 + (c - 48);
      digits++;
    } else if (c === 46 && digits > 0 && part <= 255 && dots < 3) {
      n = n * 256 + part;
      part = digits = 0;
      dots++;
    } else {
      throw new Error(`not an IPv4 address: ${s}`);
    }
  }
  if (dots !== 3 || digits === 0 || part > 255) throw new Error(`not an IPv4 address: ${s}`);
  return n * 256 + part;
}

export function intToIp(n: number): string {
  return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

export function prefixMask(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

export interface Cidr {
  network: number;
  prefix: number;
  mask: number;
  broadcast: number;
}

export function parseCidr(s: string): Cidr {
  const [addr, len] = s.split('/');
  const prefix = Number(len);
  if (!addr || !Number.isInteger(prefix) || prefix < 0 || prefix > 32) throw new Error(`not a CIDR: ${s}`);
  const mask = prefixMask(prefix);
  const network = (ipToInt(addr) & mask) >>> 0;
  return { network, prefix, mask, broadcast: (network | ~mask) >>> 0 };
}

export function inCidr(ip: number, c: Cidr): boolean {
  return (ip & c.mask) >>> 0 === c.network;
}

/** The network and broadcast addresses, which no host may hold; a /31 or /32 has none (RFC 3021). */
export function nonHostAddresses(c: Cidr): { network: number | null; broadcast: number | null } {
  return c.prefix <= 30 ? { network: c.network, broadcast: c.broadcast } : { network: null, broadcast: null };
}
