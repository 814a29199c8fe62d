// rackjoin's configuration (docs/configuration.md): YAML, every key optional, defaults embedded,
// unknown keys and bad values refused with the key named.
import { readFileSync, existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { Type, type Static } from '@sinclair/typebox';
import { LineCounter, parseDocument, type Document } from 'yaml';
import { Ipv4, Strict, StringEnum } from './schema/common.js';
import { formatProblems, validate } from './schema/validate.js';

export const DHCP_MODES = ['proxy', 'reservation', 'pool', 'off'] as const;
/** How DHCP answers installed nodes (netboot off); see src/dhcp/bootDecision.ts. */
export const INSTALLED_BOOT = ['ipxe-script', 'no-boot-file', 'full-chain'] as const;
export type InstalledBoot = (typeof INSTALLED_BOOT)[number];

const Subnet = Strict({
  cidr: Type.String({ pattern: '^\\d{1,3}(\\.\\d{1,3}){3}/\\d{1,2}$' }),
  range: Type.Optional(Type.String({ pattern: '^\\d{1,3}(\\.\\d{1,3}){3}-\\d{1,3}(\\.\\d{1,3}){3}$' })),
  router: Type.Optional(Ipv4),
  dns: Type.Optional(Type.Array(Ipv4)),
  domain: Type.Optional(Type.String()),
  leaseSeconds: Type.Integer({ minimum: 30, default: 3600 }),
});

const ApiToken = Strict({
  name: Type.String({ minLength: 1 }),
  token: Type.String({ minLength: 16, description: 'at least 16 characters' }),
  scope: StringEnum(['read', 'admin'] as const),
});

export const ConfigSchema = Strict({
  dataDir: Type.String({ default: './data' }),
  inventory: Type.String({ default: './inventory' }),
  templates: Type.String({ default: './templates' }),
  assets: Type.String({ default: './assets' }),
  advertise: Type.Optional(Ipv4),
  interface: Type.Optional(Type.String({ minLength: 1 })),
  dhcp: Strict(
    {
      mode: StringEnum(DHCP_MODES),
      port: Type.Integer({ minimum: 1, maximum: 65535, default: 67 }),
      proxyPort: Type.Integer({ minimum: 1, maximum: 65535, default: 4011 }),
      subnets: Type.Array(Subnet, { default: [] }),
      offerSeconds: Type.Integer({
        minimum: 1,
        maximum: 3600,
        default: 30,
        description: 'how long an OFFER holds its address for the REQUEST',
      }),
      declineSeconds: Type.Integer({
        minimum: 1,
        default: 86400,
        description: 'how long an address a client DECLINEd stays out of use',
      }),
      conflictCheckMs: Type.Integer({
        minimum: 0,
        maximum: 5000,
        default: 100,
        description:
          'pool mode: how long to wait for an answer (ARP on the served link, ICMP echo for relayed subnets) ' +
          'before first offering an address; 0 = no check',
      }),
      installedBoot: StringEnum(INSTALLED_BOOT, {
        default: 'ipxe-script',
        description:
          'nodes that boot their disk (installed, failed): ipxe-script = iPXE gets the boot script (which ' +
          'boots the disk), firmware gets no boot file; no-boot-file = nobody gets one; ' +
          'full-chain = answered like netbooting nodes',
      }),
    },
    { description: 'mode defaults to proxy when running as root, off otherwise' },
  ),
  tftp: Strict({
    enabled: Type.Boolean({ default: true }),
    port: Type.Integer({ minimum: 1, maximum: 65535, default: 69 }),
    windowsizeMax: Type.Integer({ minimum: 1, maximum: 65535, default: 64 }),
    blksizeMax: Type.Integer({ minimum: 8, maximum: 65464, default: 1468 }),
    maxTransfersPerClient: Type.Integer({
      minimum: 1,
      maximum: 512,
      default: 8,
      description: 'transfers one client address may run at once; over it, its read requests go unanswered',
    }),
  }),
  http: Strict({
    port: Type.Integer({ minimum: 0, maximum: 65535, default: 8080 }),
    host: Type.String({ default: '0.0.0.0' }),
  }),
  api: Strict({
    tokens: Type.Array(ApiToken, { default: [] }),
  }),
  kubernetes: Strict({
    apiServerEndpoint: Type.Optional(Type.String({ pattern: '^[^\\s:]+:\\d+$' })),
    caCertHashes: Type.Array(Type.String({ pattern: '^sha256:[0-9a-f]{64}$' }), { default: [] }),
    joinToken: Type.Optional(Type.String({ pattern: '^[a-z0-9]{6}\\.[a-z0-9]{16}$' })),
    kubeconfig: Type.Optional(Type.String()),
    tokenTtlMinutes: Type.Integer({ minimum: 1, default: 120 }),
    drainTimeoutSeconds: Type.Integer({
      minimum: 1,
      maximum: 3600,
      default: 120,
      description:
        'reimage: how long evictions may be refused (PodDisruptionBudgets) ' +
        'before the reimage is refused, unless forced',
    }),
  }),
  timeouts: Strict({
    pxe: Type.Integer({ minimum: 1, default: 600 }),
    install: Type.Integer({ minimum: 1, default: 3600 }),
    join: Type.Integer({ minimum: 1, default: 900 }),
  }),
  log: Strict({
    level: StringEnum(['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const, { default: 'info' }),
  }),
});

export type Config = Static<typeof ConfigSchema>;

export class ConfigError extends Error {
  constructor(
    readonly file: string,
    message: string,
  ) {
    super(`${file}: ${message}`);
    this.name = 'ConfigError';
  }
}

/** Where a config key is written: `file:line` (its parent's line when the key is absent), or the label alone. */
export type Locate = (path: (string | number)[]) => string;

export interface LoadedConfig {
  config: Config;
  /** The file read, or null for embedded defaults. */
  file: string | null;
  locate: Locate;
}

/** The config file `serve` reads: --config, else ./rackjoin.yaml when present, else none. */
export function configPath(explicit: string | undefined, cwd = process.cwd()): string | null {
  if (explicit) return resolve(cwd, explicit);
  const local = resolve(cwd, 'rackjoin.yaml');
  return existsSync(local) ? local : null;
}

export function loadConfig(file: string | null, opts: { isRoot?: boolean; cwd?: string } = {}): LoadedConfig {
  if (!file) {
    const label = '(defaults)';
    return { config: buildConfig({}, label, opts, opts.cwd ?? process.cwd()), file, locate: () => label };
  }
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(file, `cannot read: ${(err as Error).message}`);
  }
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { prettyErrors: true, lineCounter });
  if (doc.errors.length > 0) throw new ConfigError(file, `not valid YAML: ${doc.errors[0]!.message}`);
  const raw: unknown = doc.toJS() ?? {};
  if (typeof raw !== 'object' || Array.isArray(raw)) throw new ConfigError(file, 'top level must be a mapping of keys');
  const locate = locator(file, doc, lineCounter);
  return { config: buildConfig(raw as Record<string, unknown>, file, opts, dirname(file), locate), file, locate };
}

function locator(file: string, doc: Document, counter: LineCounter): Locate {
  return (path) => {
    // Walk up until a node exists: a missing key is reported at its parent.
    for (let depth = path.length; depth > 0; depth--) {
      const node = doc.getIn(path.slice(0, depth), true) as { range?: [number, number, number] } | undefined;
      if (node && typeof node === 'object' && node.range) return `${file}:${counter.linePos(node.range[0]).line}`;
    }
    return file;
  };
}

/** Validate a raw object, fill defaults and resolve relative paths against `baseDir`. */
export function buildConfig(
  raw: Record<string, unknown>,
  label: string,
  opts: { isRoot?: boolean },
  baseDir: string,
  locate: Locate = () => label,
): Config {
  const isRoot = opts.isRoot ?? process.getuid?.() === 0;
  const input = structuredClone(raw) as Record<string, Record<string, unknown> | unknown>;
  // Sections must exist for Ajv to fill their defaults.
  for (const section of ['dhcp', 'tftp', 'http', 'api', 'kubernetes', 'timeouts', 'log']) {
    if (input[section] === undefined || input[section] === null) input[section] = {};
  }
  const dhcp = input.dhcp as Record<string, unknown>;
  // DHCP needs port 67; without root the daemon still serves HTTP, so default to off.
  if (typeof dhcp === 'object' && dhcp && dhcp.mode === undefined) dhcp.mode = isRoot ? 'proxy' : 'off';
  const result = validate(ConfigSchema, input);
  if (!result.ok) {
    const first = result.problems[0]!;
    const where = locate(first.path);
    throw new ConfigError(where, formatProblems(result.problems));
  }
  const config = result.value;
  for (const key of ['dataDir', 'inventory', 'templates', 'assets'] as const)
    config[key] = resolve(baseDir, config[key]);
  if (config.kubernetes.kubeconfig) config.kubernetes.kubeconfig = resolve(baseDir, config.kubernetes.kubeconfig);
  return config;
}
