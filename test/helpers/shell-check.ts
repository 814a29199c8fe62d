// Shell inside installer configs: scripts (kickstart %post, write_files) parse with
// `sh -n` / `bash -n`; one-line commands (preseed's late_command, autoinstall's
// late-commands, runcmd strings) parse too, and so does every `sh -c SCRIPT` nested in
// them, which must be one word (and so does a script carried as `echo BASE64 | base64 -d`):
// a quote inside SCRIPT that ends it early leaves the rest
// as stray arguments, and the command runs half of what it says (sh -n cannot see that).
import { shellSyntaxError, shellWords } from './installer-tools.js';

const SHELLS = new Set(['sh', 'bash', 'dash', '/bin/sh', '/bin/bash', '/usr/bin/sh', '/usr/bin/bash']);
/** Tokens that end a simple command, or redirect it (shlex with punctuation_chars). */
const ENDS = /^(;|;;|&|&&|\||\|\||\(|\)|[<>]+&?|&>+)$/;

/** The shell a script's #! line names (sh, dash, bash; directly or through env), else null. */
export function shellOf(text: string): 'sh' | 'bash' | null {
  const m = /^#!.*\b(sh|dash|bash)\b/.exec(text.split('\n', 1)[0]!);
  return m ? (m[1] === 'bash' ? 'bash' : 'sh') : null;
}

/** Problems with the script `text`, run by `shell` (else its #! line's, else sh). `where` names it in messages. */
export function scriptProblems(text: string, where: string, shell?: 'sh' | 'bash'): string[] {
  const interpreter = shell ?? shellOf(text) ?? 'sh';
  const err = shellSyntaxError(interpreter, text);
  return err ? [`${where}: ${interpreter} -n: ${err}`] : [];
}

/** Problems with one-line shell commands (each run as `sh -c COMMAND`), nested `sh -c` scripts included. */
export function commandProblems(commands: { where: string; command: string }[]): string[] {
  const out: string[] = [];
  let level = commands;
  // Bounded: every level is a strictly shorter string than the one it came from.
  while (level.length) {
    const next: typeof level = [];
    const words = shellWords(
      level.map((c) => c.command),
      true,
    );
    level.forEach(({ where, command }, i) => {
      const err = shellSyntaxError('sh', command);
      if (err) out.push(`${where}: sh -n: ${err}`);
      const split = words[i]!;
      if ('error' in split) {
        if (!err) out.push(`${where}: unbalanced quoting: ${split.error}`);
        return;
      }
      next.push(...nestedScripts(split.words, where, out));
      out.push(...embeddedScripts(split.words, where));
    });
    level = next;
  }
  return out;
}

/** The SCRIPT of every `sh -c SCRIPT` in `words`; stray words after one are a problem. */
function nestedScripts(words: string[], where: string, out: string[]): { where: string; command: string }[] {
  const found: { where: string; command: string }[] = [];
  words.forEach((w, i) => {
    if (!SHELLS.has(w) || words[i + 1] !== '-c' || words[i + 2] === undefined) return;
    const script = words[i + 2]!;
    const inner = `${where}: ${w} -c '${script.length > 60 ? `${script.slice(0, 60)}...` : script}'`;
    found.push({ where: inner, command: script });
    // `sh -c SCRIPT NAME ARGS...` is legal, but NAME is $0: `_` by convention when intended.
    const rest = words.slice(i + 3);
    let end = rest.findIndex((r) => ENDS.test(r));
    if (end === -1) end = rest.length;
    else if (end > 0 && /^\d+$/.test(rest[end - 1]!) && /^[<>]/.test(rest[end]!)) end -= 1; // 2>&1
    const stray = rest.slice(0, end);
    if (stray.length && stray[0] !== '_')
      out.push(
        `${inner} is followed by ${stray.map((s) => JSON.stringify(s)).join(' ')}: ` +
          'a quote inside the script ended it early, so the rest became arguments and never runs',
      );
  });
  return found;
}

/** `echo BASE64 | base64 -d`: a whole script carried in a one-line command (the preseed's late_command). */
function embeddedScripts(words: string[], where: string): string[] {
  return words.flatMap((w, i) =>
    w === 'echo' && words[i + 2] === '|' && words[i + 3] === 'base64' && words[i + 4] === '-d'
      ? scriptProblems(Buffer.from(words[i + 1]!, 'base64').toString(), `${where}: the script in base64`)
      : [],
  );
}
