// The end-to-end lab: one network namespace holding a bridge (198.18.N.1/24), one tap
// per VM on that bridge, and every process that serves or boots (rackjoin, the RA
// responder, QEMU, the stand-in servers of bench/e2e). Nothing touches the host's
// own network. Teardown kills what runs in the namespace and deletes it, on every
// path: close(), process exit, SIGINT/SIGTERM, and a detached watchdog that does it
// if this process is killed outright (tap's timeout ends with SIGKILL). A lab left
// behind by a killed run is swept by the next one.
import { execFile, execFileSync, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { execIn, spawnIn, stopChildren, sweepNamespace, type ExecResult } from '../helpers/netns.js';
import { E2E_WORK, REPO } from './env.js';

const execFileP = promisify(execFile);

export type { ExecResult };

export interface LabOptions {
  /** Tap devices (one per VM running at the same time). */
  taps: number;
  /** Run scripts/ipv6-ra on the bridge (default true): without it iPXE waits ~15 s per stage. */
  ra?: boolean;
  /** Third octet of 198.18.<octet>.0/24 (default derived from the pid). */
  octet?: number;
  /** Keep the run directory (logs, VARS copies) even after a clean close (also RACKJOIN_E2E_KEEP=1). */
  keepRunDir?: boolean;
}

export interface Lab {
  ns: string;
  bridge: string;
  taps: string[];
  /** 198.18.N */
  prefix: string;
  serverIp: string;
  /** Per-run scratch directory: serial logs, OVMF VARS copies, daemon data. */
  runDir: string;
  /** Whether scripts/ipv6-ra is running on the bridge. */
  ra: boolean;
  /** Start or stop the RA responder (bench/e2e measures both). */
  setRa(on: boolean): Promise<void>;
  /** Run argv in the namespace to completion, bounded (default 60 s). */
  exec(argv: string[], opts?: { timeoutMs?: number; input?: string }): Promise<ExecResult>;
  /** Start a long-running process in the namespace; killed (by PID) at close. */
  spawn(argv: string[], opts?: SpawnOptions): ChildProcess;
  /** Mark the run as failed: its directory is kept for the logs. */
  keep(): void;
  close(): Promise<void>;
}

interface Teardownable {
  teardown(fn: () => unknown): void;
  passing?(): boolean;
}

const NS_PREFIX = 'rje2e-';

/**
 * Holds a tap open on the bridge so that the bridge has a carrier while no VM runs,
 * as a real provisioning NIC plugged into a switch does. Without one, the bridge is
 * NO-CARRIER until the first VM starts, and a daemon started then sees no address on
 * it (Node lists only running interfaces). Frames reaching the tap are read and dropped.
 */
const CARRIER_KEEPER = `
import fcntl, os, struct, sys
fd = os.open('/dev/net/tun', os.O_RDWR)
fcntl.ioctl(fd, 0x400454ca, struct.pack('16sH', sys.argv[1].encode(), 0x0002 | 0x1000))  # TUNSETIFF, IFF_TAP | IFF_NO_PI
print('ready', flush=True)
while True:
    os.read(fd, 65536)
`;
const live = new Map<string, { children: Set<ChildProcess>; watchdog: ChildProcess | null }>();
let counter = 0;
let hooked = false;

function sweepAll(): void {
  for (const [ns, l] of live) {
    for (const c of l.children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    sweepNamespace(ns);
    if (l.watchdog?.pid) {
      try {
        process.kill(l.watchdog.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
  }
  live.clear();
}

function hookProcess(): void {
  if (hooked) return;
  hooked = true;
  process.on('exit', sweepAll);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => {
      sweepAll();
      // Someone else handles the signal (the demo's teardown): let them. Otherwise die of it.
      if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
    });
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Labs of runs that were killed before they could clean up (their pid is gone). */
export function sweepStaleLabs(): string[] {
  let names: string[] = [];
  try {
    names = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
      .split('\n')
      .map((l) => l.split(' ')[0]!)
      .filter((n) => n.startsWith(NS_PREFIX));
  } catch {
    return [];
  }
  const swept: string[] = [];
  for (const ns of names) {
    const pid = Number(/^rje2e-(\d+)-/.exec(ns)?.[1]);
    if (pid && !alive(pid)) {
      sweepNamespace(ns);
      swept.push(ns);
    }
  }
  // Run directories of old runs (kept for their logs) go after a day.
  const runs = join(E2E_WORK, 'runs');
  try {
    for (const d of readdirSync(runs)) {
      const p = join(runs, d);
      if (Date.now() - statSync(p).mtimeMs > 86_400_000) rmSync(p, { recursive: true, force: true });
    }
  } catch {
    /* no runs yet */
  }
  return swept;
}

async function ip(...args: string[]): Promise<void> {
  await execFileP('ip', args, { timeout: 10_000 });
}

/**
 * A watchdog outside the namespace: when this process dies without closing the lab,
 * it empties and deletes the namespace. Bounded: it gives up after a day.
 */
function startWatchdog(ns: string): ChildProcess {
  const script = `
    n=0
    while kill -0 ${process.pid} 2>/dev/null && ip netns list | grep -q '^${ns}\\b' && [ $n -lt 86400 ]; do sleep 1; n=$((n+1)); done
    if ip netns list | grep -q '^${ns}\\b'; then
      for p in $(ip netns pids ${ns} 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
      ip netns del ${ns} 2>/dev/null
    fi`;
  const w = spawn('sh', ['-c', script], { detached: true, stdio: 'ignore' });
  w.unref();
  return w;
}

export async function createLab(t: Teardownable | null, opts: LabOptions): Promise<Lab> {
  hookProcess();
  sweepStaleLabs();
  const n = ++counter;
  const ns = `${NS_PREFIX}${process.pid}-${n}`;
  const octet = opts.octet ?? 100 + ((process.pid + n) % 150);
  const prefix = `198.18.${octet}`;
  const runDir = join(E2E_WORK, 'runs', `${new Date().toISOString().replace(/[:.]/g, '-')}-${process.pid}-${n}`);
  mkdirSync(runDir, { recursive: true });
  const children = new Set<ChildProcess>();
  const entry = { children, watchdog: null as ChildProcess | null };
  let keepRun = !!opts.keepRunDir || process.env.RACKJOIN_E2E_KEEP === '1';
  let closed = false;
  let raProc: ChildProcess | null = null;

  const lab: Lab = {
    ns,
    bridge: 'br0',
    taps: Array.from({ length: opts.taps }, (_, i) => `tap${i}`),
    prefix,
    serverIp: `${prefix}.1`,
    runDir,
    ra: false,
    async setRa(on) {
      if (on && !raProc) {
        raProc = lab.spawn(['python3', join(REPO, 'scripts/ipv6-ra'), '--iface', lab.bridge, '--quiet']);
        raProc.stdout!.on('data', () => undefined);
        raProc.stderr!.on('data', () => undefined);
        raProc.once('exit', () => (raProc = null));
      } else if (!on && raProc) {
        const p = raProc;
        const gone = new Promise((r) => p.once('exit', r));
        p.kill('SIGTERM');
        await Promise.race([gone, new Promise((r) => setTimeout(r, 3000))]);
      }
      lab.ra = on;
    },
    exec: (argv, eopts) => execIn(ns, argv, children, eopts),
    spawn: (argv, sopts) => spawnIn(ns, argv, children, sopts),
    keep() {
      keepRun = true;
    },
    async close() {
      if (closed) return;
      closed = true;
      await stopChildren(children);
      sweepNamespace(ns);
      if (entry.watchdog?.pid) {
        try {
          process.kill(entry.watchdog.pid, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
      live.delete(ns);
      if (!keepRun) rmSync(runDir, { recursive: true, force: true });
    },
  };

  try {
    await ip('netns', 'add', ns);
    live.set(ns, entry);
    entry.watchdog = startWatchdog(ns);
    await ip('-n', ns, 'link', 'set', 'lo', 'up');
    // No duplicate address detection: the bridge's link-local address (the RA's source)
    // is usable as soon as the first VM gives the bridge a carrier.
    await lab.exec(['sysctl', '-qw', 'net.ipv6.conf.all.accept_dad=0', 'net.ipv6.conf.default.accept_dad=0']);
    await ip(
      '-n',
      ns,
      'link',
      'add',
      lab.bridge,
      'type',
      'bridge',
      'stp_state',
      '0',
      'forward_delay',
      '0',
      'mcast_snooping',
      '0',
    );
    await ip('-n', ns, 'addr', 'add', `${lab.serverIp}/24`, 'dev', lab.bridge);
    await ip('-n', ns, 'link', 'set', lab.bridge, 'up');
    const keeper = lab.spawn(['python3', '-c', CARRIER_KEEPER, 'carrier0']);
    keeper.stderr!.on('data', () => undefined);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the carrier keeper tap did not come up')), 10_000);
      keeper.stdout!.once('data', () => (clearTimeout(timer), resolve()));
      keeper.once('exit', (code) => (clearTimeout(timer), reject(new Error(`the carrier keeper exited (${code})`))));
    });
    await ip('-n', ns, 'link', 'set', 'carrier0', 'master', lab.bridge);
    await ip('-n', ns, 'link', 'set', 'carrier0', 'up');
    for (const tap of lab.taps) {
      await ip('-n', ns, 'tuntap', 'add', 'dev', tap, 'mode', 'tap');
      await ip('-n', ns, 'link', 'set', tap, 'master', lab.bridge);
      await ip('-n', ns, 'link', 'set', tap, 'up');
    }
    await lab.setRa(opts.ra ?? true);
  } catch (err) {
    await lab.close();
    throw err;
  }
  t?.teardown(() => {
    // A failed run keeps its directory: serial consoles, QEMU and daemon logs.
    if (t.passing && !t.passing()) lab.keep();
    return lab.close();
  });
  return lab;
}
