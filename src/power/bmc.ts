// Power-cycling a node through its BMC, so a reimage needs no hands (a node that
// is already on never PXE-boots by itself; docs/firmware.md). IPMI goes through
// ipmitool, Redfish through its ComputerSystem.Reset action. The password comes
// from the environment variable the inventory names, never from argv or the
// database, and every failure ends in one sentence naming the BMC and the cause.
import { execFile } from 'node:child_process';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Bmc } from '../inventory/schema.js';

export class PowerError extends Error {}

export interface PowerOptions {
  env?: NodeJS.ProcessEnv;
  /** Bound on the whole operation; BMCs that do not answer must not hold a reimage. */
  timeoutMs?: number;
}

export interface PowerResult {
  method: 'ipmi' | 'redfish';
  action: string;
}

const DEFAULT_TIMEOUT_MS = 20_000;

function password(bmc: Bmc, env: NodeJS.ProcessEnv): string {
  if (!bmc.passwordEnv) throw new PowerError(`BMC ${bmc.address}: no passwordEnv in the node's bmc settings`);
  const pw = env[bmc.passwordEnv];
  if (pw === undefined)
    throw new PowerError(
      `BMC ${bmc.address}: environment variable ${bmc.passwordEnv} (bmc.passwordEnv) is not set in the daemon`,
    );
  return pw;
}

export async function powerCycle(bmc: Bmc, opts: PowerOptions = {}): Promise<PowerResult> {
  const env = opts.env ?? process.env;
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  return bmc.type === 'ipmi'
    ? ipmiCycle(bmc, password(bmc, env), timeoutMs)
    : redfishRestart(bmc, password(bmc, env), timeoutMs);
}

function ipmitool(bmc: Bmc, pw: string, command: string[], timeoutMs: number): Promise<{ ok: boolean; out: string }> {
  // -E: password from IPMI_PASSWORD; -N/-R: one-second tries, twice, so an unreachable BMC fails in seconds.
  const args = [
    '-I',
    'lanplus',
    '-H',
    bmc.address,
    ...(bmc.username ? ['-U', bmc.username] : []),
    '-E',
    '-N',
    '1',
    '-R',
    '2',
    ...command,
  ];
  return new Promise((resolve, reject) => {
    execFile(
      'ipmitool',
      args,
      { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', IPMI_PASSWORD: pw }, timeout: timeoutMs },
      (err, stdout, stderr) => {
        if (err && (err as NodeJS.ErrnoException).code === 'ENOENT') {
          return reject(new PowerError('ipmitool is not installed on the daemon host (apt-get install ipmitool)'));
        }
        const out = `${stderr}${stdout}`.trim().split('\n').filter(Boolean).slice(-2).join('; ');
        if (err && err.killed)
          return resolve({
            ok: false,
            out: `no answer within ${Math.round(timeoutMs / 1000)} s${out ? ` (${out})` : ''}`,
          });
        resolve({ ok: !err, out });
      },
    );
  });
}

async function ipmiCycle(bmc: Bmc, pw: string, timeoutMs: number): Promise<PowerResult> {
  const cycle = await ipmitool(bmc, pw, ['chassis', 'power', 'cycle'], timeoutMs);
  if (cycle.ok) return { method: 'ipmi', action: 'chassis power cycle' };
  // A machine that is off cannot be cycled ("not supported in present state"): switch it on instead.
  if (/present state/i.test(cycle.out)) {
    const on = await ipmitool(bmc, pw, ['chassis', 'power', 'on'], timeoutMs);
    if (on.ok) return { method: 'ipmi', action: 'chassis power on (was off)' };
    throw new PowerError(`IPMI BMC ${bmc.address}: power on failed: ${on.out || 'unknown error'}`);
  }
  throw new PowerError(`IPMI BMC ${bmc.address} unreachable or refused: ${cycle.out || 'unknown error'}`);
}

interface HttpAnswer {
  status: number;
  body: string;
}

function redfishCall(
  base: URL,
  method: string,
  path: string,
  auth: string,
  body: unknown,
  deadline: number,
): Promise<HttpAnswer> {
  const url = new URL(path, base);
  const payload = body === undefined ? undefined : JSON.stringify(body);
  const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method,
        headers: {
          authorization: `Basic ${auth}`,
          accept: 'application/json',
          ...(payload ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {}),
        },
        timeout: Math.max(1, deadline - Date.now()),
        // BMCs ship self-signed certificates almost without exception; verifying would fail on every real one.
        rejectUnauthorized: false,
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(Object.assign(new Error('no answer'), { code: 'ETIMEDOUT' })));
    req.on('error', reject);
    req.end(payload);
  });
}

function parseJson<T>(text: string): T | undefined {
  try {
    return JSON.parse(text) as T;
  } catch {
    return undefined;
  }
}

/** Redfish errors carry their words in error.@Message.ExtendedInfo[0].Message or error.message. */
function redfishMessage(a: HttpAnswer): string {
  const e = parseJson<{ error?: { message?: string; '@Message.ExtendedInfo'?: { Message?: string }[] } }>(
    a.body,
  )?.error;
  const words = e?.['@Message.ExtendedInfo']?.[0]?.Message ?? e?.message;
  return `HTTP ${a.status}${words ? `: ${words}` : ''}`;
}

async function redfishRestart(bmc: Bmc, pw: string, timeoutMs: number): Promise<PowerResult> {
  const base = new URL(/^https?:\/\//.test(bmc.address) ? bmc.address : `https://${bmc.address}`);
  const auth = Buffer.from(`${bmc.username ?? ''}:${pw}`).toString('base64');
  const deadline = Date.now() + timeoutMs;
  const where = `Redfish BMC ${base.host}`;
  try {
    const systems = await redfishCall(base, 'GET', '/redfish/v1/Systems', auth, undefined, deadline);
    if (systems.status !== 200) throw new PowerError(`${where}: listing systems failed: ${redfishMessage(systems)}`);
    const member = parseJson<{ Members?: { '@odata.id'?: string }[] }>(systems.body)?.Members?.[0]?.['@odata.id'];
    if (!member) throw new PowerError(`${where}: /redfish/v1/Systems lists no system`);
    const reset = await redfishCall(
      base,
      'POST',
      `${member}/Actions/ComputerSystem.Reset`,
      auth,
      { ResetType: 'ForceRestart' },
      deadline,
    );
    if (reset.status < 200 || reset.status > 299)
      throw new PowerError(`${where}: reset refused: ${redfishMessage(reset)}`);
    return { method: 'redfish', action: `${member} ForceRestart` };
  } catch (err) {
    if (err instanceof PowerError) throw err;
    const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new PowerError(`${where} unreachable: ${code}`);
  }
}
