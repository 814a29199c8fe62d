// MAC addresses arrive as 52:54:00:AA:BB:CC, 52-54-00-aa-bb-cc or 525400aabbcc
// (from YAML, the API, DHCP chaddr, pxelinux's 01-<mac> names). Everything inside
// rackjoin stores and compares the lower-case colon form.

const HEX12 = /^[0-9a-f]{12}$/;

/** Lower-case colon form, or null when `input` is not a 48-bit MAC. */
export function normalizeMac(input: string): string | null {
  const trimmed = input.trim().toLowerCase();
  if (!/^[0-9a-f]{2}([:-]?[0-9a-f]{2}){5}$/.test(trimmed)) return null;
  const hex = trimmed.replace(/[:-]/g, '');
  // A mixed separator ("52:54-00...") is a typo more often than intent.
  const seps = new Set(trimmed.replace(/[0-9a-f]/g, ''));
  if (seps.size > 1 || !HEX12.test(hex)) return null;
  return hex.match(/../g)!.join(':');
}

/** 52:54:00:aa:bb:cc -> 52-54-00-aa-bb-cc (pxelinux and iPXE `hexhyp` form). */
export function macHyphen(mac: string): string {
  return mac.replace(/:/g, '-');
}

const HEX_DIGIT = Array.from('0123456789abcdef', (c) => c.charCodeAt(0));
const COLON = 58;
const MAC_CODES: number[] = new Array(17).fill(0);

/**
 * chaddr bytes -> colon form. The DHCP server calls this for every packet: the
 * characters are built as codes and become one flat string (concatenating parts
 * made a rope, flattened again when used as a Map key).
 */
export function macFromBytes(buf: Uint8Array): string {
  const n = Math.min(6, buf.length);
  if (n === 0) return '';
  for (let i = 0; i < n; i++) {
    MAC_CODES[3 * i] = HEX_DIGIT[buf[i]! >> 4]!;
    MAC_CODES[3 * i + 1] = HEX_DIGIT[buf[i]! & 15]!;
    if (i < 5) MAC_CODES[3 * i + 2] = COLON;
  }
  return String.fromCharCode.apply(null, n === 6 ? MAC_CODES : MAC_CODES.slice(0, 3 * n - 1));
}
