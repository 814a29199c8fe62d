#!/usr/bin/env node
// rackjoin's command line: `serve` runs the daemon; the rest talk to its API.
import { parseArgs } from 'node:util';
import { ConfigError, configPath, loadConfig } from './config.js';
import { createLogger } from './log.js';
import { startDaemon } from './serve.js';
import { ApiClientError } from './cli/client.js';
import { explainMac, importDir, listNodes, showNode } from './cli/commands.js';
import { reimageNode, watchNodes } from './cli/lifecycle.js';
import { savePcap } from './cli/pcap.js';
import { InventoryError } from './inventory/store.js';
import { InventoryFileError } from './inventory/files.js';

const USAGE = `usage: rackjoin <command> [options]

  serve [--config FILE]       run the daemon (default config: ./rackjoin.yaml if present, else built-in defaults)
  nodes [--state S] [--label k=v]... [--json]
                              list nodes
  node ID [--json]            one node with its timeline (ID: name or any MAC)
  node ID --pcap FILE         write the node's recent DHCP and TFTP packets to FILE (pcap)
  import DIR                  load inventory YAML from DIR into the database (API-managed)
  reimage ID [--power-cycle] [--force] [--json]
                              arm a node for reinstall (drains it first with a kubeconfig;
                              --force: go on when the drain does not finish)
  watch                       live table of nodes as they change state (Ctrl-C to stop)
  explain MAC [--arch bios|uefi|ipxe|arm64] [--json]
                              dry run: what this MAC gets at every boot stage, and why

The API commands use $RACKJOIN_URL (default http://127.0.0.1:8080) and $RACKJOIN_TOKEN
(default: the token serve generated in ./data/admin.token).`;

const print = (s: string) => process.stdout.write(`${s}\n`);

async function serve(args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: { config: { type: 'string', short: 'c' } } });
  const file = configPath(values.config);
  const { config } = loadConfig(file);
  const log = createLogger({ level: config.log.level });
  const daemon = await startDaemon(config, log);
  log.info({ config: file ?? '(built-in defaults)' }, 'config');
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    // A stuck close must not keep the process (and port 67) forever.
    setTimeout(() => process.exit(1), 10_000).unref();
    daemon.close().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGHUP', () => {
    try {
      daemon.parts.inventory.reload();
    } catch {
      /* logged by reload; the database keeps the last good inventory */
    }
  });
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'serve':
      await serve(rest);
      return -1; // keep running
    case 'nodes': {
      const { values } = parseArgs({
        args: rest,
        options: { state: { type: 'string' }, label: { type: 'string', multiple: true }, json: { type: 'boolean' } },
      });
      await listNodes(
        { ...(values.state ? { state: values.state } : {}), labels: values.label ?? [], json: !!values.json },
        print,
      );
      return 0;
    }
    case 'node': {
      const { values, positionals } = parseArgs({
        args: rest,
        allowPositionals: true,
        options: { json: { type: 'boolean' }, pcap: { type: 'string' } },
      });
      if (positionals.length !== 1) throw new UsageError('node takes one ID');
      if (values.pcap) {
        await savePcap(positionals[0]!, values.pcap, print);
        return 0;
      }
      await showNode(positionals[0]!, { json: !!values.json }, print);
      return 0;
    }
    case 'import': {
      const { positionals } = parseArgs({ args: rest, allowPositionals: true, options: {} });
      if (positionals.length !== 1) throw new UsageError('import takes one directory');
      await importDir(positionals[0]!, print);
      return 0;
    }
    case 'explain': {
      const { values, positionals } = parseArgs({
        args: rest,
        allowPositionals: true,
        options: { arch: { type: 'string' }, json: { type: 'boolean' } },
      });
      if (positionals.length !== 1) throw new UsageError('explain takes one MAC or node name');
      await explainMac(positionals[0]!, { ...(values.arch ? { arch: values.arch } : {}), json: !!values.json }, print);
      return 0;
    }
    case 'reimage': {
      const { values, positionals } = parseArgs({
        args: rest,
        allowPositionals: true,
        options: { 'power-cycle': { type: 'boolean' }, force: { type: 'boolean' }, json: { type: 'boolean' } },
      });
      if (positionals.length !== 1) throw new UsageError('reimage takes one ID');
      await reimageNode(
        positionals[0]!,
        { powerCycle: !!values['power-cycle'], force: !!values.force, json: !!values.json },
        print,
      );
      return 0;
    }
    case 'watch': {
      parseArgs({ args: rest, options: {} });
      const stop = new AbortController();
      process.once('SIGINT', () => stop.abort());
      process.once('SIGTERM', () => stop.abort());
      await watchNodes({ signal: stop.signal, tty: !!process.stdout.isTTY }, (s) => process.stdout.write(s));
      return 0;
    }
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      print(USAGE);
      return command === undefined ? 2 : 0;
    default:
      throw new UsageError(`unknown command "${command}"`);
  }
}

class UsageError extends Error {}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`rackjoin: ${(err as Error).message}\n\n${USAGE}\n`);
      process.exitCode = 2;
    } else if (err instanceof ConfigError || err instanceof InventoryError || err instanceof InventoryFileError) {
      process.stderr.write(`rackjoin: ${(err as Error).message}\n`);
      process.exitCode = 2;
    } else if (err instanceof ApiClientError) {
      process.stderr.write(`rackjoin: ${err.message}\n`);
      process.exitCode = 1;
    } else {
      process.stderr.write(`rackjoin: ${(err as Error).stack ?? String(err)}\n`);
      process.exitCode = 1;
    }
  },
);
