// SPDX-License-Identifier: Apache-2.0
// What a reference cycle needs, from Debian's packages only: QEMU 10 (bookworm-backports) and
// cpio/xz on the host; the arm64 kernel, busybox and kexec-tools with the libraries it links,
// downloaded (never installed) and unpacked into the cache. Every step is a plain apt/dpkg
// command, so a user can repeat it by hand.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const BACKPORTS = '/etc/apt/sources.list.d/kdump-twin-bookworm-backports.sources';
/** kexec-tools and every library it links on bookworm arm64 (checked after unpacking). */
const GUEST_USERSPACE = [
  'busybox-static',
  'kexec-tools',
  'libc6',
  'zlib1g',
  'liblzma5',
  'libgcc-s1',
  'libfdt1',
  'libext2fs2',
  'libuuid1',
  'libyajl2',
  'gcc-12-base',
  'libxenmisc4.17',
  'libxentoollog1',
  'libxencall1',
  'libxenforeignmemory1',
  'libxendevicemodel1',
  'libxengnttab1',
  'libxentoolcore1',
  'libxenstore4',
  'libxenevtchn1',
  'libxenhypfs1',
];

const run = (cmd: string, args: readonly string[], cwd?: string): string =>
  execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });

function have(cmd: string): boolean {
  try {
    run('sh', ['-c', `command -v ${cmd}`]);
    return true;
  } catch {
    return false;
  }
}

export function qemuVersion(): string {
  return /version ([0-9.]+[^ ]*)/.exec(run('qemu-system-aarch64', ['--version']))?.[1] ?? 'unknown';
}

/** qemu-system-aarch64 >= 10 (bookworm-backports), cpio, xz, readelf; installed when missing. */
export function ensureHost(log: (s: string) => void): void {
  const qemuOk = have('qemu-system-aarch64') && Number(qemuVersion().split('.')[0]) >= 10;
  const missing = ['cpio', 'xz', 'readelf', 'dpkg-deb'].filter((c) => !have(c));
  if (qemuOk && missing.length === 0) return;
  if (process.getuid?.() !== 0)
    throw new Error(
      `reference: needs ${qemuOk ? '' : 'qemu-system-arm 10 (bookworm-backports), '}${missing.join(', ')}; run as root once so apt can install them`,
    );
  if (!existsSync(BACKPORTS)) {
    writeFileSync(
      BACKPORTS,
      'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n',
    );
  }
  log('apt-get update');
  run('apt-get', ['update', '-q']);
  log('apt-get install qemu-system-arm (bookworm-backports), cpio, xz-utils, binutils');
  run('apt-get', ['install', '-y', '-q', '-t', 'bookworm-backports', 'qemu-system-arm']);
  run('apt-get', ['install', '-y', '-q', 'cpio', 'xz-utils', 'binutils']);
}

export interface GuestTree {
  /** The unpacked packages (boot/, lib/modules/, bin/busybox, sbin/kexec, libraries). */
  readonly root: string;
  readonly kernelRelease: string;
  /** Package versions, for the recording. */
  readonly versions: Readonly<Record<string, string>>;
}

/** Downloads and unpacks the guest's packages into `cache`; reused when already there. */
export function ensureGuest(cache: string, kernelPackage: string, log: (s: string) => void): GuestTree {
  const debs = join(cache, 'debs');
  const root = join(cache, 'root');
  mkdirSync(debs, { recursive: true });
  const wanted = [kernelPackage, ...GUEST_USERSPACE];
  const present = () => readdirSync(debs).filter((f) => f.endsWith('.deb'));
  const missing = wanted.filter((p) => !present().some((f) => f.startsWith(`${p}_`)));
  if (missing.length) {
    if (!run('dpkg', ['--print-foreign-architectures']).split('\n').includes('arm64')) {
      if (process.getuid?.() !== 0) throw new Error('reference: dpkg has no arm64 architecture; run as root once (dpkg --add-architecture arm64)');
      run('dpkg', ['--add-architecture', 'arm64']);
      run('apt-get', ['update', '-q']);
    }
    log(`apt-get download ${missing.join(' ')} (arm64)`);
    try {
      run('apt-get', ['download', ...missing.map((p) => `${p}:arm64`)], debs);
    } catch (e) {
      throw new Error(`reference: apt-get download failed: ${(e as { stderr?: string }).stderr ?? (e as Error).message}`, { cause: e });
    }
  }
  const versions: Record<string, string> = {};
  for (const p of wanted) {
    const f = present().find((x) => x.startsWith(`${p}_`));
    if (!f) throw new Error(`reference: package ${p}:arm64 was not downloaded`);
    versions[p] = run('dpkg-deb', ['-f', join(debs, f), 'Version']).trim();
    if (!existsSync(join(root, '.unpacked', f))) {
      run('dpkg-deb', ['-x', join(debs, f), root]);
      mkdirSync(join(root, '.unpacked'), { recursive: true });
      writeFileSync(join(root, '.unpacked', f), '');
    }
  }
  const kernelRelease = kernelPackage.replace(/^linux-image-/, '');
  if (!existsSync(join(root, 'boot', `vmlinuz-${kernelRelease}`))) throw new Error(`reference: ${kernelPackage} has no boot/vmlinuz-${kernelRelease}`);
  checkLinked(root, join(root, 'sbin/kexec'));
  return { root, kernelRelease, versions };
}

/** Every library kexec needs (transitively) must be in the tree: readelf -d, as the recipe says. */
function checkLinked(root: string, elf: string): void {
  const dirs = ['lib', 'lib/aarch64-linux-gnu', 'usr/lib/aarch64-linux-gnu'].map((d) => join(root, d));
  const seen = new Set<string>();
  const walk = (file: string) => {
    for (const m of run('readelf', ['-d', file]).matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)) {
      const lib = m[1]!;
      if (seen.has(lib)) continue;
      seen.add(lib);
      const at = dirs.map((d) => join(d, lib)).find((p) => existsSync(p));
      if (!at) throw new Error(`reference: ${lib}, which kexec needs, is in none of the unpacked packages; add its package to GUEST_USERSPACE`);
      walk(at);
    }
  };
  walk(elf);
}
