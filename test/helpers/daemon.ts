// Test fixtures for the daemon: temp directories, configs, and a real
// `rackjoin serve` child process whose JSON log lines the test can read.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { onJsonLines } from './jsonLines.js';

interface Teardownable {
  teardown(fn: () => unknown): void;
}

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
export const CLI = join(REPO, 'dist/src/cli.js');

export const TOKENS = {
  admin: 'test-admin-token-0123456789abcdef',
  read: 'test-read-token-0123456789abcdef',
};

export const EXAMPLE_PROFILE = {
  name: 'ubuntu-worker',
  loader: 'ipxe',
  kernel: 'ubuntu/vmlinuz',
  initrd: ['ubuntu/initrd'],
  cmdline: 'ip=dhcp autoinstall ds=nocloud-net;s={{urls.seed}}',
  installer: 'cloud-init',
};

export interface Workspace {
  root: string;
  dataDir: string;
  inventoryDir: string;
  configFile: string;
  /** Write (or overwrite) inventory/<name> with `doc` (an object → YAML, or raw text). */
  writeInventory(name: string, doc: unknown): void;
  writeConfig(extra?: Record<string, unknown>): string;
}

export function workspace(t: Teardownable, extraConfig: Record<string, unknown> = {}): Workspace {
  const root = mkdtempSync(join(tmpdir(), 'rackjoin-test-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const ws: Workspace = {
    root,
    dataDir: join(root, 'data'),
    inventoryDir: join(root, 'inventory'),
    configFile: join(root, 'rackjoin.yaml'),
    writeInventory(name, doc) {
      mkdirSync(ws.inventoryDir, { recursive: true });
      writeFileSync(join(ws.inventoryDir, name), typeof doc === 'string' ? doc : stringify(doc));
    },
    writeConfig(extra = {}) {
      const config = {
        dataDir: 'data',
        inventory: 'inventory',
        dhcp: { mode: 'off' },
        tftp: { enabled: false },
        http: { port: 0, host: '127.0.0.1' },
        api: {
          tokens: [
            { name: 'ops', token: TOKENS.admin, scope: 'admin' },
            { name: 'dash', token: TOKENS.read, scope: 'read' },
          ],
        },
        log: { level: 'info' },
        ...extraConfig,
        ...extra,
      };
      writeFileSync(ws.configFile, stringify(config));
      return ws.configFile;
    },
  };
  mkdirSync(ws.inventoryDir, { recursive: true });
  return ws;
}

export interface DaemonProcess {
  proc: ChildProcess;
  port: number;
  url: string;
  /** Every JSON log line so far. */
  logs: Record<string, unknown>[];
  /** Resolve with the first log line matching `pred` (already seen or future). */
  waitForLog(pred: (l: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Start `rackjoin serve --config FILE` and wait for its "ready" line. */
export async function startDaemonProcess(
  t: Teardownable,
  configFile: string,
  argvPrefix: string[] = [],
): Promise<DaemonProcess> {
  const proc = spawn(...spawnArgs(argvPrefix, ['serve', '--config', configFile]), {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: Record<string, unknown>[] = [];
  const waiters: { pred: (l: Record<string, unknown>) => boolean; resolve: (l: Record<string, unknown>) => void }[] =
    [];
  let stderr = '';
  onJsonLines(proc.stdout!, (rec) => {
    logs.push(rec);
    for (const w of [...waiters]) {
      if (!w.pred(rec)) continue;
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve(rec);
    }
  });
  proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((r) => proc.on('exit', (code) => r(code)));
  t.teardown(async () => {
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGKILL');
      await exited;
    }
  });
  const waitForLog: DaemonProcess['waitForLog'] = (pred, timeoutMs = 30_000) => {
    const seen = logs.find(pred);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`log line not seen within ${timeoutMs} ms; stderr: ${stderr}`)),
        timeoutMs,
      );
      const w = { pred, resolve: (l: Record<string, unknown>) => (clearTimeout(timer), resolve(l)) };
      waiters.push(w);
      exited.then((code) => {
        clearTimeout(timer);
        reject(new Error(`daemon exited (${code}) before the expected log line; stderr: ${stderr}`));
      });
    });
  };
  const ready = await waitForLog((l) => l.msg === 'rackjoin ready');
  const port = Number(String(ready.http).split(':').pop());
  return {
    proc,
    port,
    url: `http://127.0.0.1:${port}`,
    logs,
    waitForLog,
    async stop(signal = 'SIGTERM') {
      if (proc.exitCode !== null || proc.signalCode !== null) return proc.exitCode;
      proc.kill(signal);
      return exited;
    },
  };
}

/** `node dist/src/cli.js ...args`, optionally behind a prefix such as `ip netns exec NS`. */
export function spawnArgs(prefix: string[], args: string[]): [string, string[]] {
  const argv = [...prefix, process.execPath, CLI, ...args];
  return [argv[0]!, argv.slice(1)];
}

export async function api(
  base: string,
  method: string,
  path: string,
  opts: { token?: string; body?: unknown } = {},
): Promise<{ status: number; body: any }> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: {
      ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}),
      ...(opts.body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(opts.body !== undefined ? { body: JSON.stringify(opts.body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}
