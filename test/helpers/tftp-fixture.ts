// A TFTP server process for integration tests, run inside a network
// namespace: static files from --root, plus pxelinux.cfg/01-<mac> rendered in memory
// for every --mac. stdout carries JSON lines: {"ready":{address,port}} once bound,
// {"transfer":TransferRecord} per request answered or refused, {"stats":TftpStats} on SIGUSR2
// and on SIGTERM (after a clean close). Logs go to stderr.
import { parseArgs } from 'node:util';
import { resolveAsset } from '../../src/assets.js';
import { createLogger } from '../../src/log.js';
import { macHyphen, normalizeMac } from '../../src/mac.js';
import { startTftpServer, type TftpFile, type TftpRequestInfo } from '../../src/tftp/server.js';

const { values } = parseArgs({
  options: {
    root: { type: 'string' },
    host: { type: 'string', default: '0.0.0.0' },
    port: { type: 'string', default: '0' },
    'blksize-max': { type: 'string', default: '1468' },
    'windowsize-max': { type: 'string', default: '64' },
    'max-transfers': { type: 'string', default: '512' },
    'max-per-client': { type: 'string', default: '8' },
    mac: { type: 'string', multiple: true, default: [] },
    'log-level': { type: 'string', default: 'warn' },
  },
});
if (!values.root) throw new Error('--root DIR is required');
const root = values.root;
const macs = new Set(values.mac.map((m) => normalizeMac(m)).filter((m): m is string => m !== null));

function out(line: object): void {
  process.stdout.write(JSON.stringify(line) + '\n');
}

/** What the boot plane will do for a pxelinux client: a config rendered per MAC. */
function renderPxelinux(mac: string, req: TftpRequestInfo): Buffer {
  return Buffer.from(
    [
      `# rendered for ${mac}, requested by ${req.peer.address}`,
      'DEFAULT install',
      'LABEL install',
      '  KERNEL vmlinuz',
      `  APPEND initrd=initrd.img BOOTIF=01-${macHyphen(mac)} ip=dhcp`,
      '',
    ].join('\n'),
  );
}

async function resolve(req: TftpRequestInfo): Promise<TftpFile<string> | null> {
  const m = /^pxelinux\.cfg\/01-([0-9a-f-]{17})$/i.exec(req.path);
  const mac = m ? normalizeMac(m[1]!) : null;
  if (mac && macs.has(mac)) return { data: renderPxelinux(mac, req), tag: `node-${macHyphen(mac)}` };
  const asset = await resolveAsset(root, req.path);
  return asset.ok ? { path: asset.path } : null;
}

const server = await startTftpServer({
  host: values.host,
  port: Number(values.port),
  blksizeMax: Number(values['blksize-max']),
  windowsizeMax: Number(values['windowsize-max']),
  maxTransfers: Number(values['max-transfers']),
  maxTransfersPerClient: Number(values['max-per-client']),
  resolve,
  onTransfer: (rec) => out({ transfer: rec }),
  log: createLogger({ level: values['log-level'], destination: process.stderr }),
});
out({ ready: server.address() });

process.on('SIGUSR2', () => out({ stats: server.stats() }));
process.on('SIGTERM', () => {
  void server.close().then(() => {
    out({ stats: server.stats() });
    process.exit(0);
  });
});
