// bench/e2e: power-on -> `joined` for each firmware path, rackjoin against the lab
// recipe's stand-in (dnsmasq + a static Python HTTP server) in the same run, on the
// same lab, VM, kernel, installer and rendered files. Run through ./bench/e2e.
import { parseArgs } from 'node:util';
import { writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { e2eUnavailable } from '../test/e2e/env.js';
import { createLab, type Lab } from '../test/e2e/lab.js';
import { MATRIX, PROFILES, type Machine } from '../test/e2e/cases.js';
import { journey, lastEventId } from '../test/e2e/journey.js';
import { stageAssets, startRackjoin, type Rackjoin } from '../test/e2e/rackjoin.js';
import { prepareStandin, startStandin, type StandinRoot } from '../test/e2e/standin.js';
import { accelerator, BOOT_PATH_IDS, describeVm, startVm, type BootPathId, type VmResult } from '../test/e2e/vm.js';

const VM_TIMEOUT_MS = 240_000;

const { values } = parseArgs({
  options: {
    reps: { type: 'string', default: '3' },
    paths: { type: 'string', default: BOOT_PATH_IDS.join(',') },
    ra: { type: 'string', default: 'on' },
    json: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (values.help) {
  console.log(`usage: bench/e2e [--reps N] [--paths ${BOOT_PATH_IDS.join(',')}] [--ra on|off|both] [--json FILE]
Boots each path N times against rackjoin and N times against dnsmasq + python http.server,
alternating (ABBA), and reports power-on -> joined for both. Needs root; see test/e2e.`);
  process.exit(0);
}
const reps = Math.max(1, Math.min(20, Number(values.reps) || 3));
const paths = values.paths!.split(',').map((s) => s.trim()) as BootPathId[];
for (const p of paths) if (!BOOT_PATH_IDS.includes(p)) throw new Error(`unknown path ${p}`);
const raModes = values.ra === 'both' ? [true, false] : [values.ra !== 'off'];
const machines = MATRIX.filter((m) => paths.includes(m.path));

type Server = 'rackjoin' | 'standin';
interface Sample {
  server: Server;
  path: BootPathId;
  ra: boolean;
  rep: number;
  seconds: number | null;
  error?: string;
  load: number;
  /** When each phase was first seen, from power-on: "dhcp +2.3 file +2.4 ...". */
  phases: string;
}

function offsets(phases: Record<string, number | undefined>, from: number): string {
  return Object.entries(phases)
    .map(([k, t]) => `${k} ${t === undefined ? '-' : `+${((t - from) / 1000).toFixed(1)}`}`)
    .join(', ');
}

const why = e2eUnavailable();
if (why) {
  console.error(`bench/e2e: ${why}`);
  process.exit(1);
}

const load1 = () => Number(loadavg()[0]!.toFixed(2));
const samples: Sample[] = [];
let lab: Lab | null = null;
/** The last rackjoin started (its expectedJoinArgs stay valid after it stops). */
let rj: Rackjoin | null = null;
let rjRunning = false;

async function bootWithRackjoin(m: Machine, ra: boolean, rep: number): Promise<void> {
  const r0 = rj!;
  const state = (await journey(r0, m.name)).state;
  if (state !== 'registered') {
    const re = await r0.api('POST', `/api/v1/nodes/${m.name}/reimage`, {});
    if (re.status !== 200) throw new Error(`reimage ${m.name}: ${re.status} ${JSON.stringify(re.body)}`);
  }
  const before = await lastEventId(r0, m.name);
  const load = load1();
  const r = await startVm(lab!, {
    name: `${m.name}-rj-${rep}`,
    mac: m.mac,
    tap: lab!.taps[0]!,
    path: m.path,
    timeoutMs: VM_TIMEOUT_MS,
  }).result;
  const j = await journey(r0, m.name, before);
  const joined = j.entered.joined;
  const error =
    check(r, m, r0.expectedJoinArgs(m.name, m.role)) ?? (joined ? undefined : `not joined (state ${j.state})`);
  const at = (pred: (e: (typeof j.events)[number]) => boolean) => {
    const e = j.events.find(pred);
    return e ? Date.parse(e.ts) : undefined;
  };
  const phases = {
    dhcp: at((e) => e.type.startsWith('dhcp.')),
    file: at((e) => e.type.endsWith('.sent')),
    kernel: at((e) => e.type.endsWith('.sent') && e.data.role === 'kernel'),
    installing: at((e) => e.type === 'callback' && e.data.stage === 'installing'),
    joined,
  };
  record(
    {
      server: 'rackjoin',
      path: m.path,
      ra,
      rep,
      seconds: joined && !error ? (joined - r.startedAt) / 1000 : null,
      load,
      phases: offsets(phases, r.startedAt),
      ...(error ? { error } : {}),
    },
    r,
  );
}

async function bootWithStandin(m: Machine, ra: boolean, rep: number, root: StandinRoot): Promise<void> {
  const load = load1();
  const s = await startStandin(lab!, root, machines);
  try {
    const r = await startVm(lab!, {
      name: `${m.name}-sd-${rep}`,
      mac: m.mac,
      tap: lab!.taps[0]!,
      path: m.path,
      timeoutMs: VM_TIMEOUT_MS,
    }).result;
    const joined = s.callbackAt(root.tokens[m.name]!, 'joined');
    const error = check(r, m, rj!.expectedJoinArgs(m.name, m.role)) ?? (joined ? undefined : 'no joined callback');
    const at = (pred: (x: (typeof s.records)[number]) => boolean) => s.records.find(pred)?.t;
    const phases = {
      dhcp: at((x) => x.method === 'DHCP'),
      file: at((x) => x.method === 'TFTP' || x.method === 'GET'),
      kernel: at((x) => (x.method === 'TFTP' || x.method === 'GET') && x.path.includes('vmlinuz')),
      installing: s.callbackAt(root.tokens[m.name]!, 'installing'),
      joined,
    };
    record(
      {
        server: 'standin',
        path: m.path,
        ra,
        rep,
        seconds: joined && !error ? (joined - r.startedAt) / 1000 : null,
        load,
        phases: offsets(phases, r.startedAt),
        ...(error ? { error } : {}),
      },
      r,
    );
  } finally {
    await s.stop();
  }
}

function check(r: VmResult, m: Machine, args: string): string | undefined {
  if (!r.done || r.failure)
    return `installer did not finish: ${r.failure ?? `exit ${r.exit}${r.timedOut ? ', timed out' : ''}`}`;
  if (r.kubeadm.length !== 1 || r.kubeadm[0] !== args) return `kubeadm args ${JSON.stringify(r.kubeadm)} for ${m.name}`;
  return undefined;
}

function record(s: Sample, r: VmResult): void {
  samples.push(s);
  const what = s.seconds === null ? `FAILED: ${s.error}` : `${s.seconds.toFixed(2)} s`;
  console.log(
    `  ${s.server.padEnd(8)} ${s.path.padEnd(13)} RA ${s.ra ? 'on ' : 'off'} rep ${s.rep}: ${what} (load ${s.load}; ${s.phases})`,
  );
  if (s.seconds === null) {
    console.log(`    ${describeVm(r)}`);
    lab?.keep();
  }
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

/** rackjoin and the stand-in take turns on the same address and ports. */
async function useRackjoin(on: boolean): Promise<void> {
  if (on && !rjRunning) {
    rj = await startRackjoin(lab!, { profiles: PROFILES, nodes: machines });
    rjRunning = true;
  } else if (!on && rjRunning) {
    await rj!.stop();
    rjRunning = false;
  }
}

async function main(): Promise<void> {
  console.log(
    `bench/e2e: ${reps} rep(s) of ${paths.join(', ')}; RA ${raModes.map((r) => (r ? 'on' : 'off')).join(' then ')}`,
  );
  await stageAssets();
  lab = await createLab(null, { taps: 1, ra: raModes[0]! });
  console.log(`lab ${lab.ns} (${lab.prefix}.0/24), accel ${accelerator()}, run dir ${lab.runDir}`);
  await useRackjoin(true);
  // The stand-in serves what rackjoin renders for these nodes right now (all about to install).
  const root = await prepareStandin(lab, rj!, machines);
  for (const ra of raModes) {
    await lab.setRa(ra);
    for (let rep = 1; rep <= reps; rep++) {
      // ABBA: alternate which server goes first, so drift in host load hits both alike.
      const order: Server[] = rep % 2 ? ['rackjoin', 'standin'] : ['standin', 'rackjoin'];
      for (const server of order) {
        await useRackjoin(server === 'rackjoin');
        for (const m of machines) {
          if (server === 'rackjoin') await bootWithRackjoin(m, ra, rep);
          else await bootWithStandin(m, ra, rep, root);
        }
      }
    }
  }
  report();
}

function report(): void {
  const lines: string[] = [];
  lines.push('');
  lines.push(`power-on -> joined, seconds (median [min-max] of ${reps}); accel ${accelerator()}`);
  lines.push(`${'path'.padEnd(14)}${'RA'.padEnd(5)}${'rackjoin'.padEnd(24)}${'dnsmasq+python'.padEnd(24)}ratio`);
  let worst = 0;
  for (const ra of raModes) {
    for (const p of paths) {
      const of = (server: Server) => samples.filter((s) => s.server === server && s.path === p && s.ra === ra);
      const fmt = (xs: Sample[]) => {
        const ok = xs.map((s) => s.seconds).filter((x): x is number => x !== null);
        const failed = xs.length - ok.length;
        if (!ok.length) return `all ${failed} failed`;
        return `${median(ok).toFixed(2)} [${Math.min(...ok).toFixed(1)}-${Math.max(...ok).toFixed(1)}]${failed ? ` ${failed} failed` : ''}`;
      };
      const a = of('rackjoin')
        .map((s) => s.seconds)
        .filter((x): x is number => x !== null);
      const b = of('standin')
        .map((s) => s.seconds)
        .filter((x): x is number => x !== null);
      const ratio = a.length && b.length ? median(a) / median(b) : NaN;
      if (Number.isFinite(ratio)) worst = Math.max(worst, ratio);
      lines.push(
        `${p.padEnd(14)}${(ra ? 'on' : 'off').padEnd(5)}${fmt(of('rackjoin')).padEnd(24)}${fmt(of('standin')).padEnd(24)}${Number.isFinite(ratio) ? ratio.toFixed(3) : '-'}`,
      );
    }
  }
  lines.push(
    `goal: rackjoin <= 1.05 x the stand-in on every path; worst ratio ${worst.toFixed(3)} ${worst <= 1.05 ? '(met)' : '(NOT met)'}`,
  );
  console.log(lines.join('\n'));
  if (values.json) writeFileSync(values.json, JSON.stringify({ accel: accelerator(), reps, samples }, null, 2));
}

const cleanup = async () => {
  await useRackjoin(false).catch(() => undefined);
  await lab?.close();
};
main()
  .then(cleanup)
  .catch(async (err) => {
    console.error(`bench/e2e: ${(err as Error).stack ?? err}`);
    lab?.keep();
    await cleanup();
    process.exit(1);
  });
