// Option negotiation for a read request: RFC 2347 (OACK), 2348 (blksize),
// 2349 (tsize, timeout), 7440 (windowsize). An option we cannot honour is left out
// of the OACK rather than refused with error 8: the client then falls back to the
// RFC 1350 default, which every firmware handles, while an error ends the boot.
import type { Options } from './packet.js';

export const DEFAULT_BLKSIZE = 512;

// The configured ceiling: 1468 = 1500 (Ethernet MTU) - 20 (IPv4) - 8 (UDP)
// - 4 (TFTP header). Each transfer is further held under its path MTU (server.ts
// asks the kernel): a larger block would be fragmented, one lost fragment loses
// the whole block, and PXE ROMs tend to mishandle reassembly.
export const DEFAULT_BLKSIZE_MAX = 1468;

// Window bookkeeping tells ACK numbers apart modulo 65536, which needs a window
// well under 32768 blocks; beyond a few hundred datagrams the sockets' buffers
// overflow anyway, so a larger window only turns into loss.
export const WINDOWSIZE_HARD_MAX = 256;

/** IPv4 and UDP headers, and TFTP's own 4 bytes, around a DATA block. */
export const DATA_OVERHEAD = 20 + 8 + 4;

export interface Limits {
  blksizeMax: number;
  windowsizeMax: number;
  /** The MTU of the route to the client, when known: no block may need fragmenting. */
  pathMtu?: number | null;
}

export interface Negotiated {
  blksize: number;
  windowsize: number;
  /** Seconds the client asked us to wait before retransmitting (RFC 2349), if it asked. */
  timeoutSeconds: number | null;
  /** Options to acknowledge, or null when none are: the transfer then starts with DATA 1. */
  oack: Options | null;
}

function integer(value: string | undefined, min: number, max: number): number | null {
  if (value === undefined || !/^\d{1,10}$/.test(value.trim())) return null;
  const n = Number(value.trim());
  return n >= min && n <= max ? n : null;
}

export function negotiate(requested: Options, size: number, limits: Limits): Negotiated {
  const oack: Options = Object.create(null);
  let blksize = DEFAULT_BLKSIZE;
  let windowsize = 1;
  let timeoutSeconds: number | null = null;

  // RFC 2348: 8..65464; a larger request may be answered with a smaller value.
  const wantBlk = integer(requested.blksize, 8, Number.MAX_SAFE_INTEGER);
  if (wantBlk !== null) {
    const mtuMax = limits.pathMtu ? limits.pathMtu - DATA_OVERHEAD : Infinity;
    blksize = Math.max(8, Math.min(wantBlk, limits.blksizeMax, 65464, mtuMax));
    oack.blksize = String(blksize);
  }
  // RFC 2349: a read request carries tsize 0 and the answer is the transfer size.
  if (requested.tsize !== undefined) oack.tsize = String(size);
  // RFC 2349: 1..255 seconds; the server echoes it and uses it.
  const wantTimeout = integer(requested.timeout, 1, 255);
  if (wantTimeout !== null) {
    timeoutSeconds = wantTimeout;
    oack.timeout = String(wantTimeout);
  }
  // RFC 7440: 1..65535, answered with at most our maximum.
  const wantWindow = integer(requested.windowsize, 1, 65535);
  if (wantWindow !== null) {
    windowsize = Math.max(1, Math.min(wantWindow, limits.windowsizeMax, WINDOWSIZE_HARD_MAX));
    oack.windowsize = String(windowsize);
  }
  return { blksize, windowsize, timeoutSeconds, oack: Object.keys(oack).length > 0 ? oack : null };
}
