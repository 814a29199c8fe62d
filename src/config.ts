// rackjoin's configuration (docs/configuration.md): YAML, every key optional, defaults embedded,
// unknown keys and bad values refused with the key named.
import { readFileSync, existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { Type, type Static } from '@sinclair/typebox';
import { parseDocument } from 'yaml';
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

export interface LoadedConfig {
  config: Config;
  /** The file read, or null for embedded defaults. */
  file: string | null;
}

/** The config file `serve` reads: --config, else ./rackjoin.yaml when present, else none. */
export function configPath(explicit: string | undefined, cwd = process.cwd()): string | null {
  if (explicit) return resolve(cwd, explicit);
  const local = resolve(cwd, 'rackjoin.yaml');
  return existsSync(local) ? local : null;
}

export function loadConfig(file: string | null, opts: { isRoot?: boolean; cwd?: string } = {}): LoadedConfig {
  let raw: unknown = {};
  if (file) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new ConfigError(file, `cannot read: ${(err as Error).message}`);
    }
    const doc = parseDocument(text, { prettyErrors: true });
    if (doc.errors.length > 0) throw new ConfigError(file, `not valid YAML: ${doc.errors[0]!.message}`);
    raw = doc.toJS() ?? {};
    if (typeof raw !== 'object' || Array.isArray(raw))
      throw new ConfigError(file, 'top level must be a mapping of keys');
  }
  return {
    config: buildConfig(
      raw as Record<string, unknown>,
      file ?? '(defaults)',
      opts,
      file ? dirname(file) : (opts.cwd ?? process.cwd()),
    ),
    file,
  };
}

/** Validate a raw object, fill defaults and resolve relative paths against `baseDir`. */
export function buildConfig(
  raw: Record<string, unknown>,
  label: string,
  opts: { isRoot?: boolean },
  baseDir: string,
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
  if (!result.ok) throw new ConfigError(label, formatProblems(result.problems));
  const config = result.value;
  for (const key of ['dataDir', 'inventory', 'templates', 'assets'] as const)
    config[key] = resolve(baseDir, config[key]);
  if (config.kubernetes.kubeconfig) config.kubernetes.kubeconfig = resolve(baseDir, config.kubernetes.kubeconfig);
  checkSemantics(config, label);
  return config;
}

function checkSemantics(config: Config, label: string): void {
  const names = new Set<string>();
  for (const t of config.api.tokens) {
    if (names.has(t.name)) throw new ConfigError(label, `api.tokens: name "${t.name}" appears twice`);
    names.add(t.name);
  }
  if (config.dhcp.mode === 'pool' && !config.dhcp.subnets.some((s) => s.range)) {
    throw new ConfigError(label, 'dhcp.subnets: pool mode needs at least one subnet with a range');
  }
  config.dhcp.subnets.forEach((s, i) => {
    const prefix = Number(s.cidr.split('/')[1]);
    if (prefix > 32) throw new ConfigError(label, `dhcp.subnets[${i}].cidr: prefix length ${prefix} is over 32`);
  });
}
