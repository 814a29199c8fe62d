// Is anyone already using an address we are about to offer? dnsmasq pings an
// address before it first offers it, Kea's ping_check hook does the same (ICMP
// echo, 100 ms by default). On the link we serve directly an ARP probe is the
// better question (a host with a firewall still answers ARP); a relayed subnet is
// out of ARP's reach, so it gets the echo. The sockets are native (probe.c), one
// of each kind for every probe in flight; each probe ends at its first answer or
// after `timeoutMs`, whichever comes first, and never blocks the event loop.
import { thisHost } from '../host.js';
import { intToIp } from '../ip.js';
import type { Logger } from '../log.js';
import { macFromBytes } from '../mac.js';
import { native } from '../native.js';

export type ProbeMethod = 'arp' | 'icmp';

/** `checked`: a probe went out and nobody answered; false: no way to ask (the address is offered unchecked). */
export type Verdict = { inUse: false; checked: boolean } | { inUse: true; method: ProbeMethod; mac: string | null };

export interface ProbeStats {
  /** Probes sent, by method. */
  probes: Record<ProbeMethod, number>;
  /** Addresses found in use, by method. */
  conflicts: Record<ProbeMethod, number>;
  /** Addresses offered unchecked because their probe could not be sent, by method. */
  unchecked: Record<ProbeMethod, number>;
}

/** How often a run of probes that cannot be sent is logged (a storm must not flood the log). */
const UNSENT_WARN_MS = 60_000;

/** Hears the verdict on the address it asked about. */
export type VerdictFor = (v: Verdict, ip: number) => void;

interface Pending {
  method: ProbeMethod;
  seq: number;
  /** When nobody having answered means the address is free (performance.now()). */
  deadline: number;
  /** Everyone waiting for this address's answer (the check ahead of demand, then an OFFER). */
  done: VerdictFor[];
}

export interface ProbeOptions {
  timeoutMs: number;
  /** The interface of the directly served link, for ARP; null: none (ICMP everywhere). */
  link: string | null;
  log: Logger;
}

export class ConflictProbe {
  private readonly arp: unknown;
  private readonly icmp: unknown;
  /**
   * Probes waiting for an answer, oldest first: every probe waits the same time,
   * so the Map's insertion order is the order of their deadlines, and one timer,
   * set for the oldest, serves them all (a timer per probe was an object per new
   * address, alive through a young-generation GC).
   */
  private readonly pending = new Map<number, Pending>();
  private timer: NodeJS.Timeout | null = null;
  private seq = 0;
  private lastUnsentWarning = -Infinity;
  private closed = false;
  readonly stats: ProbeStats = {
    probes: { arp: 0, icmp: 0 },
    conflicts: { arp: 0, icmp: 0 },
    unchecked: { arp: 0, icmp: 0 },
  };

  constructor(private readonly opts: ProbeOptions) {
    const { link, log } = opts;
    this.arp = link
      ? open(log, `ARP on ${link}`, () => native.arpOpen(link, (ip, mac) => this.heard(ip, 'arp', mac)))
      : null;
    this.icmp = open(log, 'ICMP echo', () => native.icmpOpen((ip, seq) => this.heard(ip, 'icmp', seq))[0]);
    if (!this.arp && !this.icmp) log.warn('dhcp: no conflict check possible: pool addresses are offered unchecked');
  }

  /**
   * Ask whether `ip` is in use: by ARP when it is on the served link (`direct`) and
   * ARP is open, else by echo. One probe per address at a time: a second check of
   * an address being probed waits for the same answer. Without a way to ask, or
   * when the probe cannot be sent (no route), the address counts as free: the
   * client's own DECLINE remains.
   */
  check(ip: number, direct: boolean, done: VerdictFor): void {
    const inFlight = this.pending.get(ip);
    if (inFlight) return void inFlight.done.push(done);
    const method: ProbeMethod | null = this.closed ? null : direct && this.arp ? 'arp' : this.icmp ? 'icmp' : null;
    if (!method) return done(UNCHECKED, ip);
    const seq = (this.seq = (this.seq + 1) & 0xffff);
    const err = method === 'arp' ? native.arpProbe(this.arp, ip) : native.icmpEcho(this.icmp, ip, seq);
    if (err !== 0) {
      this.unsent(ip, method, err);
      return done(UNCHECKED, ip);
    }
    this.stats.probes[method]++;
    this.pending.set(ip, { method, seq, deadline: performance.now() + this.opts.timeoutMs, done: [done] });
    this.timer ??= setTimeout(this.expire, this.opts.timeoutMs);
  }

  /** True while a probe of `ip` waits for its answer. */
  probing(ip: number): boolean {
    return this.pending.has(ip);
  }

  /** Probes in flight. */
  get inFlight(): number {
    return this.pending.size;
  }

  /** Probes still waiting are dropped unanswered (the server is closing). */
  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.pending.clear();
    if (this.arp) native.probeClose(this.arp);
    if (this.icmp) native.probeClose(this.icmp);
  }

  /**
   * A probe the kernel refused (no route; ENOBUFS once the neighbour table is full,
   * when a relayed subnet is in fact on one of our links and a storm makes the
   * kernel resolve thousands of addresses at once): the address goes out unchecked,
   * counted, and said in the log at most once a minute.
   */
  private unsent(ip: number, method: ProbeMethod, errno: number): void {
    this.stats.unchecked[method]++;
    const now = Date.now();
    if (now - this.lastUnsentWarning < UNSENT_WARN_MS) return;
    this.lastUnsentWarning = now;
    const unchecked = this.stats.unchecked[method];
    this.opts.log.warn(
      { address: intToIp(ip), method, errno, unchecked },
      'dhcp: conflict probe not sent; offered unchecked',
    );
  }

  /** A packet from `ip`: any ARP it sends, or an echo reply to our probe of it. */
  private heard(ip: number, method: ProbeMethod, what: Buffer | number): void {
    const p = this.pending.get(ip);
    if (!p || p.method !== method || (method === 'icmp' && what !== p.seq)) return;
    this.stats.conflicts[method]++;
    this.settle(ip, { inUse: true, method, mac: typeof what === 'number' ? null : macFromBytes(what) });
  }

  /** Every probe past its deadline found its address free; the timer is set again for the oldest left. */
  private readonly expire = () => {
    const now = performance.now();
    const due: number[] = [];
    for (const [ip, p] of this.pending) {
      if (p.deadline > now) break;
      due.push(ip);
    }
    // Settled after the walk: a verdict may start a probe, which joins the end of the Map.
    for (const ip of due) this.settle(ip, FREE);
    if (this.timer) clearTimeout(this.timer);
    const oldest = this.pending.values().next().value;
    this.timer = oldest ? setTimeout(this.expire, Math.max(1, oldest.deadline - performance.now())) : null;
  };

  private settle(ip: number, v: Verdict): void {
    const p = this.pending.get(ip);
    if (!p) return;
    this.pending.delete(ip);
    for (const done of p.done) done(v, ip);
  }
}

const FREE: Verdict = Object.freeze({ inUse: false, checked: true });
const UNCHECKED: Verdict = Object.freeze({ inUse: false, checked: false });

function open(log: Logger, what: string, fn: () => unknown): unknown {
  try {
    return fn();
  } catch (err) {
    log.warn({ err: (err as Error).message }, `dhcp: conflict check by ${what} is not possible`);
    return null;
  }
}

/** The name of the interface that holds `ip` (the served link when `interface` is not set). */
export function interfaceOf(ip: number): string | null {
  return thisHost.interfaces().find((i) => i.addresses.includes(ip))?.name ?? null;
}
