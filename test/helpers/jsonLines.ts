// A child's stdout as JSON records: pino log lines, fixture and stand-in records.
import type { Readable } from 'node:stream';

/** Calls onRecord for each complete line of `stream` that parses as JSON; other lines are skipped. */
export function onJsonLines(stream: Readable, onRecord: (rec: Record<string, unknown>) => void): void {
  let buf = '';
  stream.on('data', (d: Buffer) => {
    buf += d.toString();
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      let rec: Record<string, unknown>;
      try {
        rec = JSON.parse(line);
      } catch {
        continue; // not a record
      }
      onRecord(rec);
    }
  });
}
