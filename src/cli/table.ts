/** The width to wrap to: the terminal's, else 100 (piped output). */
export function terminalWidth(): number {
  return process.stdout.columns || 100;
}

// Machine-sent strings (DHCP hostnames, callback messages) must not drive the terminal.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\x00-\x08\x0b-\x1f\x7f]/g;

/** `text` in lines of at most `width` characters, broken at spaces; a longer word gets a line of its own, never cut. */
export function wrap(text: string, width: number): string[] {
  const out: string[] = [];
  for (const para of text.replace(/\t/g, ' ').replace(CONTROL, '?').split('\n')) {
    let line = '';
    for (const word of para.split(' ')) {
      if (line && line.length + 1 + word.length > width) {
        out.push(line);
        line = word;
      } else line = line ? `${line} ${word}` : word;
    }
    out.push(line);
  }
  return out;
}

/** The narrowest a wrapped last column gets, however wide the others are. */
const MIN_LAST = 30;

/**
 * Plain aligned columns, the way `kubectl get` prints them. With `width`, the last
 * column is wrapped to what is left of it, continuation lines under its start;
 * `below[i]` are lines printed under row i (indented, wrapped to `width`).
 */
export function table(headers: string[], rows: string[][], opts: { width?: number; below?: string[][] } = {}): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const lastAt = widths.slice(0, -1).reduce((sum, w) => sum + w + 2, 0);
  const room = opts.width ? Math.max(MIN_LAST, opts.width - lastAt) : Infinity;
  const line = (cells: string[]) => {
    const head = cells.slice(0, -1).map((c, i) => c.padEnd(widths[i]!));
    const [first = '', ...more] = room === Infinity ? [cells.at(-1) ?? ''] : wrap(cells.at(-1) ?? '', room);
    return [[...head, first].join('  ').trimEnd(), ...more.map((m) => `${' '.repeat(lastAt)}${m}`)].join('\n');
  };
  const indented = (lines: string[]) =>
    lines.flatMap((l) => wrap(l, Math.max(MIN_LAST, (opts.width ?? Infinity) - 4))).map((l) => `    ${l}`.trimEnd());
  const body = rows.map((r, i) => [line(r), ...indented(opts.below?.[i] ?? [])].join('\n'));
  return [line(headers), ...body].join('\n');
}

/** "3m12s ago"-style age of an ISO timestamp. */
export function age(iso: string, now = Date.now()): string {
  let s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  s %= 60;
  if (m < 60) return `${m}m${s ? `${s}s` : ''}`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h${m % 60 ? `${m % 60}m` : ''}`;
  return `${Math.floor(h / 24)}d`;
}
