// Prometheus metrics (GET /metrics). Two kinds of input:
// - the lifecycle's stream (transitions, observations): nodes per state, stage
//   durations, files served, callback results;
// - counters the services keep themselves (DHCP, TFTP), read at scrape time
//   through a stats() function handed over with addSource(), so the services do
//   not depend on prom-client and their numbers are never double-counted.
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { NODE_STATES } from './inventory/states.js';
import type { NodeStore } from './inventory/store.js';
import type { Lifecycle } from './lifecycle/lifecycle.js';

/** A service's counters: numbers, or one level of numbers keyed by a label value. */
export type StatsSnapshot = Record<string, number | Record<string, number>>;

export interface StatsSource {
  /** Metric name prefix after rackjoin_: 'dhcp' → rackjoin_dhcp_<key>_total. */
  subsystem: string;
  stats: () => StatsSnapshot;
  /** Label name for each nested key (default 'key'): { received: 'type', dropped: 'reason' }. */
  labels?: Record<string, string>;
  /** Keys that go up and down (exported as gauges, without _total). */
  gauges?: string[];
  help?: Record<string, string>;
}

// Seconds; provisioning stages run from seconds (DHCP → loader) to an hour (install).
const STAGE_BUCKETS = [1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200];

const snake = (s: string) =>
  s
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .replace(/[^a-zA-Z0-9_]/g, '_')
    .toLowerCase();

export class Metrics {
  readonly registry = new Registry();
  private readonly stageSeconds: Histogram<'stage' | 'to'>;
  private readonly transitions: Counter<'from' | 'to'>;
  private readonly files: Counter<'via' | 'role'>;
  private readonly fileBytes: Counter<'via' | 'role'>;
  private readonly callbacks: Counter<'stage' | 'result'>;

  constructor(nodes: Pick<NodeStore, 'countByState'>) {
    new Gauge({
      name: 'rackjoin_nodes',
      help: 'Nodes per lifecycle state',
      labelNames: ['state'],
      registers: [this.registry],
      collect() {
        const counts = nodes.countByState();
        for (const s of NODE_STATES) this.set({ state: s }, counts[s] ?? 0);
      },
    });
    this.stageSeconds = new Histogram({
      name: 'rackjoin_stage_duration_seconds',
      help: 'Time nodes spent in a lifecycle state before leaving it, by the state left and the state entered',
      labelNames: ['stage', 'to'],
      buckets: STAGE_BUCKETS,
      registers: [this.registry],
    });
    this.transitions = new Counter({
      name: 'rackjoin_transitions_total',
      help: 'Lifecycle state transitions',
      labelNames: ['from', 'to'],
      registers: [this.registry],
    });
    this.files = new Counter({
      name: 'rackjoin_boot_files_served_total',
      help: 'Boot files (loaders, boot configs, kernels, initrds) served to known nodes, by protocol and role',
      labelNames: ['via', 'role'],
      registers: [this.registry],
    });
    this.fileBytes = new Counter({
      name: 'rackjoin_boot_file_bytes_total',
      help: 'Bytes of boot files served to known nodes, by protocol and role',
      labelNames: ['via', 'role'],
      registers: [this.registry],
    });
    this.callbacks = new Counter({
      name: 'rackjoin_callbacks_total',
      help: 'Node callbacks by stage and result (advanced, repeat, stale, ignored; refused = unknown token)',
      labelNames: ['stage', 'result'],
      registers: [this.registry],
    });
  }

  /** Follow a lifecycle's transitions and observations. */
  follow(lifecycle: Lifecycle): void {
    lifecycle.on('transition', (t) => {
      this.transitions.inc({ from: t.from, to: t.to });
      this.stageSeconds.observe({ stage: t.from, to: t.to }, t.durationMs / 1000);
    });
    lifecycle.on('observed', ({ obs, outcome }) => {
      if (obs.kind === 'file-served') {
        this.files.inc({ via: obs.via, role: obs.role });
        this.fileBytes.inc({ via: obs.via, role: obs.role }, obs.bytes);
      } else if (obs.kind === 'callback') {
        this.callbacks.inc({ stage: obs.stage, result: outcome });
      }
    });
  }

  /** A callback with a token that belongs to no node (nothing else happens for it). */
  callbackRefused(stage: string): void {
    this.callbacks.inc({ stage, result: 'refused' });
  }

  /**
   * Export a service's own counters. Metric families are fixed by the keys of the
   * first snapshot; values are read fresh at every scrape.
   */
  addSource(src: StatsSource): void {
    const first = src.stats();
    for (const [key, sample] of Object.entries(first)) {
      const gauge = src.gauges?.includes(key) ?? false;
      const base = `rackjoin_${snake(src.subsystem)}_${snake(key)}`;
      const label = typeof sample === 'object' ? (src.labels?.[key] ?? 'key') : null;
      const help = src.help?.[key] ?? `${src.subsystem} ${key}`;
      const samples = (): [Record<string, string>, number][] => {
        const v = src.stats()[key];
        if (typeof v === 'number') return [[{}, v]];
        return v && label ? Object.entries(v).map(([k, n]) => [{ [label]: k }, n]) : [];
      };
      const opts = { help, labelNames: label ? [label] : [], registers: [this.registry] };
      if (gauge) {
        new Gauge({
          name: base,
          ...opts,
          collect() {
            this.reset();
            for (const [l, n] of samples()) this.set(l, n);
          },
        });
      } else {
        new Counter({
          name: `${base}_total`,
          ...opts,
          collect() {
            this.reset();
            for (const [l, n] of samples()) this.inc(l, n);
          },
        });
      }
    }
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
