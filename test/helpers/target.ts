// A disposable "installed system" for running installer scripts for real: this
// machine's own Debian root as the lower layer of an overlay, writes going to a
// tmpfs, with /proc and /dev inside. debian-installer's `in-target`, anaconda's
// %post and cloud-init's first boot all run their commands chrooted into the
// new system; here that system is the overlay, so the scripts change nothing of
// this host. It has no DNS (an empty resolv.conf): a lookup fails at once, as on
// a rack without a name server or internet.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

interface Teardownable {
  teardown(fn: () => void | Promise<void>): void;
}

export interface Target {
  /** The target's root directory (chroot into it). */
  root: string;
  /** Write a file inside the target. */
  write(path: string, content: string, mode?: number): void;
}

const run = (argv: string[]) => execFileSync(argv[0]!, argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });

export function createTarget(t: Teardownable): Target {
  const dir = mkdtempSync(join(tmpdir(), 'rj-target-'));
  const root = join(dir, 'root');
  const mounted: string[] = [];
  const mount = (argv: string[], at: string) => {
    run(['mount', ...argv, at]);
    mounted.push(at);
  };
  t.teardown(() => {
    // Lazy unmounts, innermost first: a process still inside must not keep them busy.
    for (const at of mounted.reverse()) {
      try {
        run(['umount', '-l', at]);
      } catch {
        /* already gone */
      }
    }
    // Not recursive: once the tmpfs is gone the directory is empty; were a mount still
    // there (the bind of /dev), a recursive removal would reach into this host.
    try {
      rmdirSync(dir);
    } catch {
      /* still busy: left for the OS to clean up */
    }
  });
  // The upper layer on its own tmpfs: an upper directory inside the lower (/) is refused.
  mount(['-t', 'tmpfs', 'tmpfs'], dir);
  for (const d of ['upper', 'work', 'root']) mkdirSync(join(dir, d));
  mount(['-t', 'overlay', 'overlay', '-o', `lowerdir=/,upperdir=${dir}/upper,workdir=${dir}/work`], root);
  mount(['-t', 'proc', 'proc'], join(root, 'proc'));
  mount(['--rbind', '/dev'], join(root, 'dev'));
  // Unmounting it later must not travel back to this host's /dev.
  run(['mount', '--make-rslave', join(root, 'dev')]);
  const target: Target = {
    root,
    write(path, content, mode = 0o644) {
      const file = join(root, path);
      mkdirSync(join(file, '..'), { recursive: true });
      writeFileSync(file, content, { mode });
    },
  };
  target.write('/etc/resolv.conf', '# no name server on this rack\n');
  return target;
}
