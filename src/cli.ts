#!/usr/bin/env node
// rackjoin's command line: `serve` runs the daemon; the rest talk to its API. One
// table entry per command: its usage line, help and option parsing come from it.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ApiClientError } from './cli/client.js';
import {
  command,
  commandHelp,
  findCommand,
  KEEP_RUNNING,
  parseInvocation,
  synopsis,
  usage,
  UsageError,
  type Command,
} from './cli/commandTable.js';
import { explainMac, importDir, listNodes, showNode } from './cli/commands.js';
import { reimageNode, watchNodes } from './cli/lifecycle.js';
import { didYouMean } from './suggest.js';
import { savePcap } from './cli/pcap.js';

const print = (s: string) => process.stdout.write(`${s}\n`);
const json = { type: 'boolean', description: 'the API response as JSON' } as const;

const COMMANDS: Command[] = [
  command({
    name: 'serve',
    summary: 'run the daemon',
    help: 'Without --config: ./rackjoin.yaml if present, else the built-in defaults. SIGHUP reloads the inventory.',
    options: { config: { type: 'string', short: 'c', arg: 'FILE', description: 'the config file' } },
    run: async ({ config }) => {
      // Loaded only here: the daemon's modules would slow every other command's start.
      const { serve } = await import('./cli/serve.js');
      await serve(config);
      return KEEP_RUNNING;
    },
  }),
  command({
    name: 'check',
    summary: 'validate the config, inventory, templates and assets without starting anything',
    help:
      'The checks serve runs before it starts (docs/configuration.md, "Checking a site"): one line per finding ' +
      'with its file and line. Exit 0: clean; 1: warnings only; 2: errors.',
    options: { config: { type: 'string', short: 'c', arg: 'FILE', description: 'the config file' } },
    run: async ({ config }) => {
      const [{ runCheck }, { configPath }] = await Promise.all([import('./cli/check.js'), import('./config.js')]);
      return runCheck(configPath(config), print);
    },
  }),
  command({
    name: 'nodes',
    summary: 'list nodes; REASON says why a failed or stuck node needs you',
    options: {
      state: { type: 'string', arg: 'S', description: 'only nodes in state S' },
      label: { type: 'string', multiple: true, arg: 'K=V', description: 'only nodes with this label (repeat to AND)' },
      json,
    },
    run: async ({ state, label, json }) => {
      await listNodes({ ...(state ? { state } : {}), labels: label ?? [], json: !!json }, print);
      return 0;
    },
  }),
  command({
    name: 'node',
    args: 'ID',
    summary: 'one node with its timeline (ID: name or any MAC)',
    help:
      'Every event in full, wrapped to the terminal; a failed callback shows the output the node sent. ' +
      "With --pcap: the node's recent DHCP and TFTP packets as a pcap file (tcpdump -r, Wireshark) instead.",
    options: { json, pcap: { type: 'string', arg: 'FILE', description: "write the node's packets to FILE (pcap)" } },
    run: async ({ json, pcap }, [id]) => {
      if (pcap) await savePcap(id!, pcap, print);
      else await showNode(id!, { json: !!json }, print);
      return 0;
    },
  }),
  command({
    name: 'import',
    args: 'DIR',
    summary: 'load inventory YAML from DIR into the database (API-managed)',
    options: {},
    run: async (_, [dir]) => {
      await importDir(dir!, print);
      return 0;
    },
  }),
  command({
    name: 'reimage',
    args: 'ID',
    summary: 'arm a node for reinstall',
    help: 'With a kubeconfig the node is drained first; --force goes on when the drain does not finish.',
    options: {
      'power-cycle': { type: 'boolean', description: 'power-cycle it through its BMC once armed' },
      force: { type: 'boolean', description: 'reimage even when the drain does not finish or fails' },
      json,
    },
    run: async (v, [id]) => {
      await reimageNode(id!, { powerCycle: !!v['power-cycle'], force: !!v.force, json: !!v.json }, print);
      return 0;
    },
  }),
  command({
    name: 'watch',
    summary: 'live table of nodes as they change state (Ctrl-C to stop)',
    options: {},
    run: async () => {
      const stop = new AbortController();
      process.once('SIGINT', () => stop.abort());
      process.once('SIGTERM', () => stop.abort());
      await watchNodes({ signal: stop.signal, tty: !!process.stdout.isTTY }, (s) => process.stdout.write(s));
      return 0;
    },
  }),
  command({
    name: 'explain',
    args: 'MAC',
    summary: 'dry run: what this MAC gets at every boot stage, and why',
    options: { arch: { type: 'string', arg: 'bios|uefi|ipxe|arm64', description: 'the firmware asking' }, json },
    run: async ({ arch, json }, [mac]) => {
      await explainMac(mac!, { ...(arch ? { arch } : {}), json: !!json }, print);
      return 0;
    },
  }),
  command({
    name: 'help',
    args: '[COMMAND]',
    summary: "the commands, or one command's options",
    options: {},
    run: async (_, [name]) => {
      print(name ? commandHelp(findCommand(COMMANDS, name)) : usageText());
      return 0;
    },
  }),
];

const usageText = () =>
  usage(
    COMMANDS,
    `  --version, -V               the version

The API commands use $RACKJOIN_URL (default http://127.0.0.1:8080) and $RACKJOIN_TOKEN
(default: the token serve generated in ./data/admin.token). \`rackjoin COMMAND --help\` for its options.`,
  );

/** `rackjoin 0.1.0`: package.json's version, read where the build left it (dist/src/cli.js → ../../package.json). */
function version(): string {
  const file = join(dirname(fileURLToPath(import.meta.url)), '../../package.json');
  return `rackjoin ${(JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version}`;
}

const GLOBAL_FLAGS = new Map([
  ['--help', usageText],
  ['-h', usageText],
  ['--version', version],
  ['-V', version],
]);

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined) {
    process.stderr.write(`${usageText()}\n`);
    return 2;
  }
  const global = GLOBAL_FLAGS.get(name);
  if (global) {
    print(global());
    return 0;
  }
  if (name.startsWith('-')) throw new UsageError(`unknown option ${name}${didYouMean(name, ['--version', '--help'])}`);
  const cmd = findCommand(COMMANDS, name);
  const inv = parseInvocation(cmd, rest);
  if (!inv.help) return cmd.run(inv.values, inv.positionals);
  print(commandHelp(cmd));
  return 0;
}

/** What the operator can fix from the message alone, and the exit code it gets; null for a bug. */
async function expected(err: unknown): Promise<number | null> {
  if (err instanceof UsageError) return 2;
  if (err instanceof ApiClientError) return 1;
  // The daemon's errors (serve): their modules are loaded only now, as for serve itself.
  const [{ ConfigError }, { InventoryError }, { InventoryFileError }, { TemplateError }, { SiteCheckError }] =
    await Promise.all([
      import('./config.js'),
      import('./inventory/store.js'),
      import('./inventory/files.js'),
      import('./boot/templates.js'),
      import('./findings.js'),
    ]);
  const refused = [ConfigError, InventoryError, InventoryFileError, SiteCheckError];
  if (refused.some((kind) => err instanceof kind)) return 2;
  if (err instanceof TemplateError) return 1;
  // The system said no (a port in use, a permission, a locked database): its message says why.
  const e = err as { syscall?: unknown; code?: unknown };
  if (typeof e.syscall === 'string' || (typeof e.code === 'string' && /^(E[A-Z]+|SQLITE_\w+)$/.test(e.code))) return 1;
  return null;
}

// A reader that went away (`rackjoin nodes | head -1`) is no error: stop quietly.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

main(process.argv.slice(2)).then(
  (code) => {
    if (code !== KEEP_RUNNING) process.exitCode = code;
  },
  async (err: unknown) => {
    const code = await expected(err);
    if (code === null) {
      process.stderr.write(`rackjoin: internal error (a bug; please report it): ${(err as Error).stack ?? err}\n`);
      process.exitCode = 1;
      return;
    }
    process.stderr.write(`rackjoin: ${(err as Error).message}\n`);
    if (err instanceof UsageError) {
      const more = err.command ? `usage: rackjoin ${synopsis(err.command)}\n` : '';
      const next = err.command
        ? `\`rackjoin help ${err.command.name}\` for its options`
        : '`rackjoin help` lists the commands';
      process.stderr.write(`${more}${next}\n`);
    }
    process.exitCode = code;
  },
);
