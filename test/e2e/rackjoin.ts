// rackjoin inside the lab: boot assets staged from distro packages and the test
// installer, a config (DHCP pool on the bridge, TFTP, HTTP on the bridge address,
// a complete kubeadm join), an inventory, the daemon itself, and its API (reached
// with curl inside the namespace: the API listens on the lab's bridge only).
import { execFile, type ChildProcess } from 'node:child_process';
import {
  copyFileSync,
  createWriteStream,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { LocalBoot } from '../../src/boot/decide.js';
import { onJsonLines } from '../helpers/jsonLines.js';
import { CLI, E2E_WORK, REPO } from './env.js';
import type { Lab } from './lab.js';

const execFileP = promisify(execFile);

export const ASSETS = join(E2E_WORK, 'assets');
export const HTTP_PORT = 8080;
export const ADMIN_TOKEN = 'e2e-admin-token-0123456789abcdef';
export const JOIN_TOKEN = 'e2e0ab.0123456789abcdef';
export const CA_HASH = `sha256:${'e2'.repeat(32)}`;
/** Kernel and initrd paths under assets/ (what profiles name). */
export const INSTALLER = { kernel: 'e2e/vmlinuz', initrd: 'e2e/initrd.img' };

/** Copy `src` to `dst` unless it is there already, byte for byte. */
export function stageFile(src: string, dst: string): void {
  if (existsSync(dst) && readFileSync(dst).equals(readFileSync(src))) return;
  // Another run may stage at the same time (the work directory is shared): own temp name, atomic rename.
  const tmp = `${dst}.${process.pid}.tmp`;
  copyFileSync(src, tmp);
  renameSync(tmp, dst);
}

/**
 * Kernel + test installer initrd (scripts/build-test-initrd) and the network boot
 * loaders (scripts/fetch-assets) in one assets directory. Idempotent and cheap when
 * nothing changed; the first run downloads the kernel package (~70 MB) once.
 */
export async function stageAssets(): Promise<string> {
  const env = { ...process.env, RACKJOIN_E2E_WORK: E2E_WORK };
  const built = await execFileP(join(REPO, 'scripts/build-test-initrd'), [], {
    env,
    timeout: 600_000,
    maxBuffer: 1 << 20,
  });
  const installerDir = built.stdout.trim().split('\n').pop()!;
  await execFileP(join(REPO, 'scripts/fetch-assets'), [ASSETS], { env, timeout: 600_000, maxBuffer: 1 << 20 });
  mkdirSync(join(ASSETS, 'e2e'), { recursive: true });
  for (const [from, to] of [
    ['vmlinuz', INSTALLER.kernel],
    ['initrd.img', INSTALLER.initrd],
  ] as const) {
    stageFile(join(installerDir, from), join(ASSETS, to));
  }
  return ASSETS;
}

export interface ProfileSpec {
  name: string;
  loader: 'ipxe' | 'pxelinux';
  role?: 'worker' | 'control-plane';
  labels?: Record<string, string>;
}

export interface NodeSpec {
  name: string;
  mac: string;
  profile: string;
  labels?: Record<string, string>;
  localBoot?: LocalBoot;
}

/** The installer command line: the serial console for the test's log, the NoCloud seed as Ubuntu takes it. */
export const CMDLINE = 'console=ttyS0 ip=dhcp autoinstall ds=nocloud-net;s={{urls.seed}}';

export function profileDoc(p: ProfileSpec): Record<string, unknown> {
  return {
    name: p.name,
    loader: p.loader,
    kernel: INSTALLER.kernel,
    initrd: [INSTALLER.initrd],
    cmdline: CMDLINE,
    installer: 'cloud-init',
    template: 'ubuntu-autoinstall',
    kubernetes: { role: p.role ?? 'worker', labels: p.labels ?? { pool: 'e2e' } },
  };
}

export interface ApiAnswer {
  status: number;
  body: any;
}

export interface Rackjoin {
  proc: ChildProcess;
  /** http://<bridge address>:8080 (reachable inside the lab namespace only) */
  base: string;
  configFile: string;
  inventoryDir: string;
  logFile: string;
  /** Every JSON log line so far. */
  logs: Record<string, unknown>[];
  api(method: string, path: string, body?: unknown): Promise<ApiAnswer>;
  /** The `kubeadm join` arguments a node's installer config renders (without "kubeadm"). */
  expectedJoinArgs(node: string, role?: 'worker' | 'control-plane'): string;
  stop(): Promise<void>;
}

export interface RackjoinOptions {
  profiles: ProfileSpec[];
  /** Profiles as the inventory file holds them, for installers other than the test one. */
  profileDocs?: Record<string, unknown>[];
  nodes: NodeSpec[];
  /** More keys for the lab's subnet (dhcp.subnets[]): its `router`, its `dns`; none by default. */
  subnet?: { router?: string; dns?: string[] };
  logLevel?: string;
}

/** Write config and inventory into the lab's run directory and start `rackjoin serve` in the namespace. */
export async function startRackjoin(lab: Lab, opts: RackjoinOptions): Promise<Rackjoin> {
  const dir = join(lab.runDir, 'rackjoin');
  const inventoryDir = join(dir, 'inventory');
  mkdirSync(inventoryDir, { recursive: true });
  const apiServer = `${lab.prefix}.10:6443`;
  // JSON is YAML: no quoting surprises.
  writeFileSync(
    join(inventoryDir, 'e2e.yaml'),
    JSON.stringify(
      {
        profiles: [...opts.profiles.map(profileDoc), ...(opts.profileDocs ?? [])],
        nodes: opts.nodes.map((n) => ({
          name: n.name,
          macs: [n.mac],
          profile: n.profile,
          labels: n.labels ?? {},
          ...(n.localBoot ? { localBoot: n.localBoot } : {}),
        })),
      },
      null,
      2,
    ),
  );
  const configFile = join(dir, 'rackjoin.yaml');
  writeFileSync(
    configFile,
    JSON.stringify(
      {
        dataDir: join(dir, 'data'),
        inventory: inventoryDir,
        assets: ASSETS,
        advertise: lab.serverIp,
        interface: lab.bridge,
        dhcp: {
          mode: 'pool',
          subnets: [
            {
              cidr: `${lab.prefix}.0/24`,
              range: `${lab.prefix}.100-${lab.prefix}.199`,
              leaseSeconds: 600,
              ...opts.subnet,
            },
          ],
        },
        tftp: { enabled: true },
        http: { port: HTTP_PORT, host: lab.serverIp },
        api: { tokens: [{ name: 'e2e', token: ADMIN_TOKEN, scope: 'admin' }] },
        kubernetes: { apiServerEndpoint: apiServer, joinToken: JOIN_TOKEN, caCertHashes: [CA_HASH] },
        log: { level: opts.logLevel ?? 'info' },
      },
      null,
      2,
    ),
  );

  const logFile = join(dir, 'rackjoin.log');
  const logStream = createWriteStream(logFile);
  const proc = lab.spawn(['node', CLI, 'serve', '--config', configFile]);
  const logs: Record<string, unknown>[] = [];
  let ready: (() => void) | null = null;
  let sawReady = false;
  proc.stdout!.on('data', (d: Buffer) => logStream.write(d));
  onJsonLines(proc.stdout!, (rec) => {
    logs.push(rec);
    if (rec.msg === 'rackjoin ready') {
      sawReady = true;
      ready?.();
    }
  });
  proc.stderr!.on('data', (d: Buffer) => logStream.write(d));
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  const tail = () => {
    try {
      return readFileSync(logFile, 'utf8').slice(-3000);
    } catch {
      return '(no log)';
    }
  };

  await new Promise<void>((resolve, reject) => {
    if (sawReady) return resolve();
    const timer = setTimeout(
      () => reject(new Error(`rackjoin did not start within 30 s (${logFile}):\n${tail()}`)),
      30_000,
    );
    ready = () => {
      clearTimeout(timer);
      resolve();
    };
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`rackjoin exited (${proc.exitCode ?? proc.signalCode}) during start-up:\n${tail()}`));
    });
  });

  const base = `http://${lab.serverIp}:${HTTP_PORT}`;
  return {
    proc,
    base,
    configFile,
    inventoryDir,
    logFile,
    logs,
    async api(method, path, body) {
      const argv = [
        'curl',
        '-sS',
        '--max-time',
        '20',
        '-X',
        method,
        '-H',
        `authorization: Bearer ${ADMIN_TOKEN}`,
        '-w',
        '\n%{http_code}',
      ];
      if (body !== undefined) argv.push('-H', 'content-type: application/json', '--data-binary', '@-');
      const r = await lab.exec([...argv, base + path], {
        timeoutMs: 25_000,
        ...(body !== undefined ? { input: JSON.stringify(body) } : {}),
      });
      if (r.code !== 0) throw new Error(`curl ${method} ${path}: exit ${r.code}: ${r.stderr}`);
      const nl = r.stdout.lastIndexOf('\n');
      const text = r.stdout.slice(0, nl);
      return { status: Number(r.stdout.slice(nl + 1)), body: text ? JSON.parse(text) : undefined };
    },
    expectedJoinArgs(node, role = 'worker') {
      return [
        'join',
        apiServer,
        `--token ${JOIN_TOKEN}`,
        `--discovery-token-ca-cert-hash ${CA_HASH}`,
        `--node-name ${node}`,
        ...(role === 'control-plane' ? ['--control-plane'] : []),
      ].join(' ');
    },
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill('SIGTERM');
        await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
        if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
      }
      logStream.end();
    },
  };
}
