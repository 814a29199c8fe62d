// Text a machine sent (a file name, a path), made safe for a timeline line, a log or a terminal.

// A path on a timeline line or in a log must not run on: the longest name firmware
// asks for (pxelinux.cfg/01-<mac>, grub.cfg-01-<mac>, an EFI path) is well under this.
const MAX_SHOWN = 256;

/**
 * C0 and C1 controls, DEL, the backslash (so an escape cannot be forged), line and
 * paragraph separators and the bidirectional controls (which reorder what a terminal shows).
 */
function unsafe(n: number): boolean {
  return (
    n < 0x20 ||
    (n >= 0x7f && n <= 0x9f) ||
    n === 0x5c ||
    n === 0x2028 ||
    n === 0x2029 ||
    (n >= 0x202a && n <= 0x202e) ||
    (n >= 0x2066 && n <= 0x2069)
  );
}

/** Untrusted text made safe to show: cut to 256 code points, the unsafe ones as \xNN or \u{N}. */
export function shown(text: string): string {
  const head = [...text.slice(0, MAX_SHOWN * 2)].slice(0, MAX_SHOWN);
  const escaped = head.map((c) => {
    const n = c.codePointAt(0)!;
    if (!unsafe(n)) return c;
    if (n === 0x5c) return '\\\\';
    return n <= 0xff ? `\\x${n.toString(16).padStart(2, '0')}` : `\\u{${n.toString(16)}}`;
  });
  return escaped.join('') + (head.join('').length < text.length ? '...' : '');
}
