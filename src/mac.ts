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

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** chaddr bytes -> colon form. Table lookups: the DHCP server calls this for every packet. */
export function macFromBytes(buf: Uint8Array): string {
  const n = Math.min(6, buf.length);
  let s = n > 0 ? HEX[buf[0]!]! : '';
  for (let i = 1; i < n; i++) s += `:${HEX[buf[i]!]}`;
  return s;
}
