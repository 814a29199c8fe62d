// A kickstart as anaconda reads it (pykickstart's parser: its state machine, its shlex
// splitting, its RHEL 9 commands in kickstart-rhel9.ts): every section known and closed
// by %end before the next begins, every command and long option one RHEL 9 knows, and
// every shell script section (%pre, %post, %onerror, ...) parsing with `bash -n`.
import { shellWords } from './installer-tools.js';
import { COMMANDS, DEPRECATED, REMOVED, SECTIONS } from './kickstart-rhel9.js';
import { scriptProblems } from './shell-check.js';

interface Line {
  no: number;
  text: string;
}
interface Section {
  header: Line;
  body: string[];
}

export function kickstartProblems(text: string, where: string): string[] {
  const out: string[] = [];
  const at = (no: number) => `${where} line ${no}`;
  const nameOf = (s: Section) => s.header.text.trim().split(/\s+/)[0]!;
  const commands: Line[] = [];
  const sections: Section[] = [];
  let open: Section | null = null;
  for (const [i, t] of text.split('\n').entries()) {
    const line = { no: i + 1, text: t };
    const first = t.trim().split(/\s+/)[0]!;
    if (open) {
      if (first === '%end') open = null;
      else if (first in SECTIONS) {
        out.push(`${at(line.no)}: section ${nameOf(open)} does not end with %end`);
        open = { header: line, body: [] };
        sections.push(open);
      } else open.body.push(t);
    } else if (!first || first.startsWith('#')) continue;
    else if (first === '%include' || first === '%ksappend')
      continue; // fetched at install time: not followed here
    else if (first.startsWith('%')) {
      if (!(first in SECTIONS)) out.push(`${at(line.no)}: unknown kickstart section ${first}`);
      open = { header: line, body: [] };
      sections.push(open);
    } else commands.push(line);
  }
  if (open) out.push(`${where}: section ${nameOf(open)} does not end with %end`);

  const lines = [...commands, ...sections.map((s) => s.header)];
  const words = shellWords(
    lines.map((l) => l.text),
    false,
  );
  for (const [i, line] of lines.entries()) {
    const split = words[i]!;
    const [name, ...args] = 'words' in split ? split.words : [];
    if ('error' in split) out.push(`${at(line.no)}: ${split.error}`);
    else if (!name) continue;
    else if (name.startsWith('%')) out.push(...optionProblems(name, args, SECTIONS[name]?.options, at(line.no)));
    else if (REMOVED.includes(name)) out.push(`${at(line.no)}: ${name}: removed from kickstart in RHEL 9`);
    else if (DEPRECATED.includes(name)) out.push(`${at(line.no)}: ${name}: deprecated in RHEL 9`);
    else if (!(name in COMMANDS)) out.push(`${at(line.no)}: unknown kickstart command ${name}`);
    else out.push(...optionProblems(name, args, COMMANDS[name], at(line.no)));
  }

  for (const [i, s] of sections.entries()) {
    if (!SECTIONS[nameOf(s)]?.script) continue;
    const header = words[commands.length + i]!;
    const interpreter = 'words' in header ? interpreterOf(header.words) : '/bin/sh';
    // /bin/sh is bash on RHEL; other interpreters (python, ...) are not checked.
    if (/(^|\/)(ba)?sh$/.test(interpreter))
      out.push(...scriptProblems(s.body.join('\n'), `${at(s.header.no)} ${nameOf(s)}`, 'bash'));
  }
  return out;
}

/** Long options not among `known` (an unambiguous prefix is fine: argparse takes it). */
function optionProblems(name: string, args: string[], known: string[] | null | undefined, where: string): string[] {
  if (!known) return [];
  return args
    .filter((a) => a.startsWith('--'))
    .map((a) => a.slice(2).split('=')[0]!)
    .filter((opt) => !known.includes(opt) && known.filter((k) => k.startsWith(opt)).length !== 1)
    .map((opt) => `${where}: ${name} has no option --${opt}`);
}

function interpreterOf(words: string[]): string {
  for (let i = 0; i < words.length; i++) {
    if (words[i] === '--interpreter') return words[i + 1] ?? '';
    if (words[i]!.startsWith('--interpreter=')) return words[i]!.slice('--interpreter='.length);
  }
  return '/bin/sh';
}
