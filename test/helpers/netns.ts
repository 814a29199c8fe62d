// Network labs for integration tests: namespaces that the test itself creates,
// joined by veth pairs, addressed in 198.18.0.0/15 only, torn down on every path
// (t.teardown, and a synchronous sweep at process exit if the test crashes).
import { execFile, execFileSync, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface LabOptions {
  /** Third octet of 198.18.<octet>.0/24; default derives from a counter. */
  octet?: number;
  /** Give the client end an address (.2). DHCP tests leave it bare. */
  clientAddress?: boolean;
}

export interface Lab {
  server: string; // namespace name
  client: string; // namespace name
  serverIf: string; // 's0'
  clientIf: string; // 'c0'
  serverIp: string; // 198.18.N.1
  clientIp: string; // 198.18.N.2 (only configured with clientAddress)
  prefix: string; // 198.18.N
  /** Run argv inside `ns` to completion, bounded by timeoutMs (default 60 s). */
  exec(ns: string, argv: string[], opts?: { timeoutMs?: number; input?: string }): Promise<ExecResult>;
  /** Start a long-running process inside `ns`; it is killed at close(). */
  spawn(ns: string, argv: string[], opts?: SpawnOptions): ChildProcess;
  close(): Promise<void>;
}

interface Teardownable {
  teardown(fn: () => unknown): void;
}

let counter = 0;
const live = new Set<string>();
const children = new Set<ChildProcess>();

process.on('exit', () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  for (const ns of live) sweepNamespace(ns);
});

/** Synchronous (it runs at process exit too): kill every process in `ns`, all started by the test, and delete it. */
export function sweepNamespace(ns: string): void {
  try {
    const pids = execFileSync('ip', ['netns', 'pids', ns], {
      encoding: 'utf8',
      timeout: 5000,
      stdio: ['ignore', 'pipe', 'ignore'],
    })
      .split(/\s+/)
      .filter(Boolean);
    for (const p of pids) {
      try {
        process.kill(Number(p), 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
  } catch {
    /* namespace already gone */
  }
  try {
    execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore', timeout: 5000 });
  } catch {
    /* already gone */
  }
}

async function ip(...args: string[]): Promise<void> {
  await execFileP('ip', args, { timeout: 10_000 });
}

/**
 * Run argv inside namespace `ns` to completion, bounded by timeoutMs (default 60 s);
 * the child is in `children` while it runs, so a lab's close() can kill it.
 */
export function execIn(
  ns: string,
  argv: string[],
  children: Set<ChildProcess>,
  opts: { timeoutMs?: number; input?: string } = {},
): Promise<ExecResult> {
  return new Promise<ExecResult>((resolve) => {
    const child = spawn('ip', ['netns', 'exec', ns, ...argv], { stdio: ['pipe', 'pipe', 'pipe'] });
    children.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d) => (stdout += d));
    child.stderr!.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
    const done = (r: ExecResult) => {
      clearTimeout(timer);
      children.delete(child);
      resolve(r);
    };
    child.on('close', (code, signal) => done({ code: code ?? (signal ? 128 : 1), stdout, stderr }));
    child.on('error', (err) => done({ code: 127, stdout, stderr: String(err) }));
    // A command that exits before reading its stdin must not crash the test with EPIPE.
    child.stdin!.on('error', () => undefined);
    child.stdin!.end(opts.input ?? '');
  });
}

/** SIGTERM to every child still running, SIGKILL to those still there after graceMs. */
export async function stopChildren(children: Set<ChildProcess>, graceMs = 3000): Promise<void> {
  const mine = [...children].filter((c) => c.exitCode === null && c.signalCode === null);
  for (const c of mine) c.kill('SIGTERM');
  await Promise.race([
    Promise.all(mine.map((c) => new Promise((r) => c.once('exit', r)))),
    new Promise((r) => setTimeout(r, graceMs)),
  ]);
  for (const c of mine) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
}

/** Start a long-running process inside `ns` (`ip netns exec` execs in place: the child's PID is the program's). */
export function spawnIn(
  ns: string,
  argv: string[],
  children: Set<ChildProcess>,
  opts: SpawnOptions = {},
): ChildProcess {
  const child = spawn('ip', ['netns', 'exec', ns, ...argv], { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
  children.add(child);
  child.on('exit', () => children.delete(child));
  child.on('error', () => children.delete(child));
  return child;
}

/** Root and iproute2 are needed; off CI a test without them is skipped, on CI it fails. */
export function labUnavailable(): string | null {
  if (process.getuid?.() !== 0) return 'network-namespace tests need root';
  try {
    execFileSync('ip', ['netns', 'list'], { stdio: 'ignore' });
  } catch {
    return 'iproute2 `ip netns` is not usable';
  }
  return null;
}

export async function createLab(t: Teardownable, opts: LabOptions = {}): Promise<Lab> {
  const why = labUnavailable();
  if (why) throw new Error(why);
  const n = ++counter;
  const octet = opts.octet ?? ((process.pid + n) % 200) + 20;
  const base = `rjt${process.pid}n${n}`;
  const server = `${base}s`;
  const client = `${base}c`;
  const prefix = `198.18.${octet}`;
  const lab: Lab = {
    server,
    client,
    serverIf: 's0',
    clientIf: 'c0',
    serverIp: `${prefix}.1`,
    clientIp: `${prefix}.2`,
    prefix,
    exec: (ns, argv, eopts) => execIn(ns, argv, children, eopts),
    spawn: (ns, argv, sopts) => spawnIn(ns, argv, children, sopts),
    async close() {
      await stopChildren(children);
      for (const ns of [server, client]) {
        sweepNamespace(ns);
        live.delete(ns);
      }
    },
  };
  try {
    for (const ns of [server, client]) {
      await ip('netns', 'add', ns);
      live.add(ns);
      await ip('-n', ns, 'link', 'set', 'lo', 'up');
    }
    await ip('link', 'add', 's0', 'netns', server, 'type', 'veth', 'peer', 'name', 'c0', 'netns', client);
    await ip('-n', server, 'addr', 'add', `${lab.serverIp}/24`, 'dev', 's0');
    await ip('-n', server, 'link', 'set', 's0', 'up');
    if (opts.clientAddress) await ip('-n', client, 'addr', 'add', `${lab.clientIp}/24`, 'dev', 'c0');
    await ip('-n', client, 'link', 'set', 'c0', 'up');
  } catch (err) {
    await lab.close();
    throw err;
  }
  t.teardown(() => lab.close());
  return lab;
}

/** Resolve when `url` answers (probed with curl inside `ns`), or throw after timeoutMs. */
export async function waitForHttp(lab: Lab, ns: string, url: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const r = await lab.exec(ns, ['curl', '-sf', '-o', '/dev/null', '--max-time', '1', url], { timeoutMs: 3000 });
    if (r.code === 0) return;
    await new Promise((r) => setTimeout(r, 150));
  }
  throw new Error(`${url} did not answer within ${timeoutMs} ms`);
}
