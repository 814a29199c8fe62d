// The command table's machinery: a command is one entry (name, arguments, options,
// summary, help, run); parsing its arguments (with "did you mean" for a mistyped
// option), the usage list and each command's help are all generated from the entries.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { didYouMean } from '../suggest.js';

export interface Option {
  type: 'string' | 'boolean';
  short?: string;
  multiple?: boolean;
  description: string;
  /** The value's placeholder in help (`--config FILE`); string options only. */
  arg?: string;
}
export type Options = Record<string, Option>;

type Parsed<O extends Options> = ReturnType<typeof parseArgs<{ options: O; allowPositionals: true }>>;

/** A run that returns this keeps the process alive (serve, until a signal). */
export const KEEP_RUNNING = -1;

export interface Command<O extends Options = Options> {
  name: string;
  /** Positional arguments as shown in the synopsis: `ID`, `DIR`, `[COMMAND]` (bracketed: optional). */
  args?: string;
  /** One line, for the command list. */
  summary: string;
  /** More paragraphs for `rackjoin help NAME`. */
  help?: string;
  options: O;
  /** The exit code, or KEEP_RUNNING. */
  run(values: Parsed<O>['values'], positionals: string[]): Promise<number>;
}

/** An entry with its option types checked against its run function. */
export const command = <const O extends Options>(c: Command<O>): Command => c as unknown as Command;

export class UsageError extends Error {
  constructor(
    message: string,
    /** The command whose synopsis goes with the error; none for an unknown command. */
    readonly command?: Command,
  ) {
    super(message);
  }
}

const HELP_OPTION: Option = { type: 'boolean', short: 'h', description: 'this help' };

const optionSynopsis = (name: string, o: Option) => `[--${name}${o.arg ? ` ${o.arg}` : ''}]${o.multiple ? '...' : ''}`;

/** `nodes [--state S] [--label K=V]... [--json]` */
export function synopsis(c: Command): string {
  const opts = Object.entries(c.options).map(([name, o]) => optionSynopsis(name, o));
  return [c.name, ...(c.args ? [c.args] : []), ...opts].join(' ');
}

/** The command list: synopsis, then the summary in a column (below it when the synopsis is long). */
export function usage(commands: Command[], footer: string): string {
  const COLUMN = 30;
  const lines = commands.map((c) => {
    const s = `  ${synopsis(c)}`;
    return s.length < COLUMN - 1 ? `${s.padEnd(COLUMN)}${c.summary}` : `${s}\n${' '.repeat(COLUMN)}${c.summary}`;
  });
  return `usage: rackjoin <command> [options]\n\n${lines.join('\n')}\n\n${footer}`;
}

/** `rackjoin help NAME`: synopsis, summary, the long help, every option. */
export function commandHelp(c: Command): string {
  const options = Object.entries({ ...c.options, help: HELP_OPTION }).map(([name, o]) => {
    const flag = `${o.short ? `-${o.short}, ` : ''}--${name}${o.arg ? ` ${o.arg}` : ''}`;
    return flag.length < 23 ? `  ${flag.padEnd(24)}${o.description}` : `  ${flag}\n${' '.repeat(26)}${o.description}`;
  });
  return [`usage: rackjoin ${synopsis(c)}`, '', c.summary, ...(c.help ? ['', c.help] : []), '', 'options:', ...options]
    .join('\n')
    .trimEnd();
}

/** The table entry named `name`, or a UsageError that suggests the closest one. */
export function findCommand(commands: Command[], name: string): Command {
  const hit = commands.find((c) => c.name === name);
  if (hit) return hit;
  const names = commands.map((c) => c.name);
  throw new UsageError(`unknown command "${name}"${didYouMean(name, names)}`);
}

/** Node's parseArgs wants only its own keys. */
function parseArgsOptions(options: Options): NonNullable<ParseArgsConfig['options']> {
  return Object.fromEntries(
    Object.entries(options).map(([name, { type, short, multiple }]) => [
      name,
      { type, ...(short ? { short } : {}), ...(multiple ? { multiple } : {}) },
    ]),
  );
}

/** How many positionals `args` asks for: bracketed words are optional. */
function arity(args: string | undefined): { min: number; max: number } {
  const words = args ? args.split(/\s+/) : [];
  return { min: words.filter((w) => !w.startsWith('[')).length, max: words.length };
}

export type Invocation = { help: true } | { help: false; values: Parsed<Options>['values']; positionals: string[] };

/** A command's arguments, checked: unknown options (with a suggestion), missing values, the positional count. */
export function parseInvocation(c: Command, argv: string[]): Invocation {
  const known = parseArgsOptions({ ...c.options, help: HELP_OPTION });
  const { tokens } = parseArgs({ args: argv, options: known, allowPositionals: true, strict: false, tokens: true });
  if (tokens.some((t) => t.kind === 'option' && t.name === 'help')) return { help: true };
  for (const t of tokens) {
    if (t.kind !== 'option' || t.name in known) continue;
    const hint = didYouMean(
      t.rawName,
      Object.keys(known).map((n) => `--${n}`),
    );
    throw new UsageError(`${c.name}: unknown option ${t.rawName}${hint}`, c);
  }
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: known, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError(`${c.name}: ${(err as Error).message}`, c);
  }
  const { min, max } = arity(c.args);
  const n = parsed.positionals.length;
  if (n < min) throw new UsageError(`${c.name}: missing ${c.args}`, c);
  if (n > max) throw new UsageError(`${c.name}: unexpected argument "${parsed.positionals[max]}"`, c);
  return { help: false, values: parsed.values, positionals: parsed.positionals };
}
