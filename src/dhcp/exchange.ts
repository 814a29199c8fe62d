// One DHCP exchange, recorded once its outcome is known: the reply went out (the
// kernel took it), was withheld (its lease commit failed, or the send did), or the
// request was dropped, with the reason. The server hands exchanges of nodes and of
// netbooting strangers to its `record` hook in batches (one transaction each);
// the lifecycle writes each as the node's timeline event, followed in the same
// transaction by the transition it causes.
import type { DhcpExchange } from '../lifecycle/machine.js';
import { intToIp } from '../ip.js';
import type { Outcome } from './handler.js';
import { describeOptions, MESSAGE_TYPES } from './options.js';
import type { Destination, Request } from './reply.js';

/** What became of a reply: sent (to where it really went), or withheld and why; null: no reply. */
export type Fate = { sent: true; to: Destination } | { sent: false; withheld: string } | null;

/** An exchange for the timeline of the machine with `mac` (recorded as discovered when `discover`). */
export interface ExchangeRecord {
  mac: string;
  discover: boolean;
  exchange: DhcpExchange;
}

export interface ExchangeContext {
  mode: 'proxy' | 'reservation' | 'pool';
  /** The port the request arrived on. */
  port: number;
}

/** The exchange `out` made of `req`, with `fate` of its reply (null when there was none). */
export function exchangeOf(c: ExchangeContext, req: Request, out: Outcome, fate: Fate): DhcpExchange {
  const received = MESSAGE_TYPES[req.type]!;
  const r = out.reply;
  const sent = r && fate?.sent ? r : undefined;
  const sentTo = fate?.sent ? fate.to : undefined;
  const replyType = r ? MESSAGE_TYPES[r.type]! : null;
  const type = out.conflict
    ? 'dhcp.conflict'
    : sent
      ? `dhcp.${c.mode === 'proxy' ? 'proxy-' : ''}${replyType!.toLowerCase()}`
      : `dhcp.${received.toLowerCase()}`;
  const p = req.packet;
  const data: Record<string, unknown> = {
    mode: c.mode,
    received,
    port: c.port,
    from: `${req.from.address}:${req.from.port}`,
    ...(p.giaddr ? { relay: intToIp(p.giaddr) } : {}),
    arch: req.fp.archCode === null ? null : { code: req.fp.archCode, name: req.fp.arch.name },
    in: describeOptions(p.options),
  };
  if (sent) {
    data.sent = {
      type: replyType,
      to: `${sentTo!.address}:${sentTo!.port}`,
      yiaddr: intToIp(sent.packet.yiaddr),
      siaddr: intToIp(sent.packet.siaddr),
      file: sent.packet.file ?? '',
      sname: sent.packet.sname ?? '',
      options: describeOptions(new Map(sent.packet.options)),
    };
  } else if (r && fate && !fate.sent) {
    data.withheld = { type: replyType, reason: fate.withheld };
  } else if (!out.conflict) {
    data.dropped = out.drop ?? null;
  }
  Object.assign(data, addressFacts(out));
  data.reason = out.reason ?? null;
  return {
    type,
    mode: c.mode,
    bootFile: sent && out.boot ? out.boot.bootFile : null,
    client: clientAddress(req, sent?.packet.yiaddr ?? 0),
    data,
  };
}

/** The address a DECLINE gave up, or the one the conflict check found in use, and who answered. */
function addressFacts(out: Outcome): Record<string, unknown> {
  if (out.lease?.kind === 'decline') return { address: intToIp(out.lease.ip), quarantineSeconds: out.lease.seconds };
  const c = out.conflict;
  if (!c) return {};
  return { address: intToIp(c.address), method: c.method, answeredBy: c.mac, quarantineSeconds: c.quarantineSeconds };
}

/** The client's own address if we know it: the one we leased, its ciaddr, or where a 4011 request came from. */
function clientAddress(req: Request, yiaddr: number): string {
  if (yiaddr) return intToIp(yiaddr);
  if (req.packet.ciaddr) return intToIp(req.packet.ciaddr);
  if (req.proxyPort && req.packet.giaddr === 0) return req.from.address;
  return req.mac;
}

// Timeline writes share the disk with lease commits: at most one batch this often,
// but the first exchange after a quiet spell is written at once.
const BATCH_MS = 20;

/** Hands recorded exchanges to `write` in batches. */
export class ExchangeBatcher {
  private batch: ExchangeRecord[] = [];
  private timer: NodeJS.Timeout | null = null;
  private last = 0;

  constructor(private readonly write: (records: ExchangeRecord[]) => void) {}

  add(record: ExchangeRecord): void {
    this.batch.push(record);
    if (this.timer) return;
    this.timer = setTimeout(() => this.flush(), Math.max(0, this.last + BATCH_MS - Date.now()));
  }

  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.last = Date.now();
    const records = this.batch;
    this.batch = [];
    if (records.length) this.write(records);
  }
}
