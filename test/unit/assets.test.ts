import t from 'tap';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { normalizeRequestPath, resolveAsset } from '../../src/assets.js';

t.test('normalizeRequestPath', async (t) => {
  const ok: [string, string][] = [
    ['pxelinux.0', 'pxelinux.0'],
    ['/pxelinux.0', 'pxelinux.0'],
    ['\\boot\\grub\\grub.cfg', 'boot/grub/grub.cfg'],
    ['pxelinux.cfg//01-aa', 'pxelinux.cfg/01-aa'],
    ['./a/./b', 'a/b'],
    ['a/b/', 'a/b'],
  ];
  for (const [raw, want] of ok) t.same(normalizeRequestPath(raw), { ok: true, path: want }, raw);
  const refused: [string, string][] = [
    ['../etc/passwd', 'dot-dot'],
    ['/../../etc/passwd', 'dot-dot'],
    ['pxelinux.cfg/../../../etc/passwd', 'dot-dot'],
    ['a/../b', 'dot-dot'],
    ['..\\..\\windows', 'dot-dot'],
    ['a\0b', 'nul'],
    ['', 'empty'],
    ['/', 'empty'],
    ['./', 'empty'],
  ];
  for (const [raw, reason] of refused) t.same(normalizeRequestPath(raw), { ok: false, reason }, JSON.stringify(raw));
});

t.test('resolveAsset keeps to the root', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'rj-assets-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const root = join(dir, 'root');
  mkdirSync(join(root, 'sub'), { recursive: true });
  writeFileSync(join(root, 'pxelinux.0'), 'loader');
  writeFileSync(join(root, 'sub', 'kernel'), 'kernel!');
  writeFileSync(join(dir, 'secret'), 'secret');
  symlinkSync(join(dir, 'secret'), join(root, 'escape'));
  symlinkSync('../secret', join(root, 'sub-escape'));
  symlinkSync(dir, join(root, 'dirlink'));
  symlinkSync('sub/kernel', join(root, 'inside'));

  const got = await resolveAsset(root, '/pxelinux.0');
  t.same(got, { ok: true, path: join(root, 'pxelinux.0'), size: 6 });
  t.same(await resolveAsset(root, 'sub\\kernel'), { ok: true, path: join(root, 'sub', 'kernel'), size: 7 });
  t.same(
    await resolveAsset(root, 'inside'),
    { ok: true, path: join(root, 'sub', 'kernel'), size: 7 },
    'symlink within the root',
  );
  t.same(await resolveAsset(root, 'escape'), { ok: false, reason: 'outside-root' });
  t.same(await resolveAsset(root, 'sub-escape'), { ok: false, reason: 'outside-root' });
  t.same(await resolveAsset(root, 'dirlink/secret'), { ok: false, reason: 'outside-root' });
  t.same(await resolveAsset(root, '../secret'), { ok: false, reason: 'dot-dot' });
  t.same(await resolveAsset(root, 'missing'), { ok: false, reason: 'not-found' });
  t.same(await resolveAsset(root, 'sub'), { ok: false, reason: 'not-a-file' });
  t.same(await resolveAsset(join(dir, 'nope'), 'x'), { ok: false, reason: 'not-found' }, 'missing root');
});

t.test('a root that is itself a symlink works', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'rj-assets-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'real'));
  writeFileSync(join(dir, 'real', 'f'), 'x');
  symlinkSync(join(dir, 'real'), join(dir, 'link'));
  t.same(await resolveAsset(join(dir, 'link'), 'f'), { ok: true, path: join(dir, 'real', 'f'), size: 1 });
});
