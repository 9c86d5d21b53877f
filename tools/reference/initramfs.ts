// SPDX-License-Identifier: Apache-2.0
// The two initramfs images of a cycle. The kdump kernel's holds busybox, the device modules,
// /init and recipe.env; the primary kernel's holds the same plus kexec with its libraries, the
// kernel Image and the kdump image, which `kexec -p` loads as the crash kernel's initrd.
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { extraParams, type Recipe } from './recipe';
import type { GuestTree } from './packages';

const MODULE_PATHS: Readonly<Record<string, string>> = {
  virtio_blk: 'kernel/drivers/block/virtio_blk.ko.xz',
  e1000e: 'kernel/drivers/net/ethernet/intel/e1000e/e1000e.ko.xz',
};

/** recipe.env, read by /init (guest/init.sh). */
export function recipeEnv(r: Recipe): string {
  const modules = [...new Set(r.devices.map((d) => d.module))].join(' ');
  const lines = [
    `PRIMARY_MODULES="${modules}"`,
    `KDUMP_MODULES="${modules}"`,
    `DISK_DMA=${r.dma.disk ? 1 : 0}`,
    `CRASH_AFTER=${r.primary.crashAfterS}`,
    `KDUMP_RUN=${r.kdump.runS}`,
  ];
  lines.push(`KDUMP_APPEND="${extraParams(r, 'kdump').join(' ')}"`);
  for (const [m, s] of Object.entries(r.kdump.moduleDelaysS)) lines.push(`DELAY_${m}=${s}`);
  return `${lines.join('\n')}\n`;
}

function cpioGz(dir: string, out: string): void {
  execFileSync('sh', ['-c', 'find . | LC_ALL=C sort | cpio -o -H newc --quiet | gzip -1 > "$0"', out], { cwd: dir });
}

/** Builds both images under `work`; returns the primary kernel's initrd and the kernel Image. */
/** A kernel of the user's own (built with the series applied, say) instead of the recipe's package. */
export interface OwnKernel {
  /** The arm64 Image (arch/arm64/boot/Image). */
  readonly image: string;
  /** The modules tree of that build (lib/modules/<release> after `make modules_install`). */
  readonly modules: string;
}

/** A module of the tree, compressed as Debian ships it or plain as a build installs it. */
function moduleBytes(tree: string, m: string): Buffer {
  const xz = join(tree, MODULE_PATHS[m]!);
  const plain = xz.replace(/\.xz$/, '');
  if (existsSync(xz)) return execFileSync('xz', ['-dc', xz]);
  if (existsSync(plain)) return readFileSync(plain);
  throw new Error(`reference: module ${m} is in neither ${xz} nor ${plain} (build it as a module: CONFIG_${m.toUpperCase()}=m)`);
}

export function buildInitramfs(work: string, guest: GuestTree, r: Recipe, own?: OwnKernel): { initrd: string; image: string } {
  const s2 = join(work, 'stage2');
  const s1 = join(work, 'stage1');
  rmSync(s2, { recursive: true, force: true });
  rmSync(s1, { recursive: true, force: true });
  mkdirSync(join(s2, 'bin'), { recursive: true });
  mkdirSync(join(s2, 'mod'), { recursive: true });
  copyFileSync(join(guest.root, 'bin/busybox'), join(s2, 'bin/busybox'));
  chmodSync(join(s2, 'bin/busybox'), 0o755);
  copyFileSync(join(__dirname, 'guest/init.sh'), join(s2, 'init'));
  chmodSync(join(s2, 'init'), 0o755);
  writeFileSync(join(s2, 'recipe.env'), recipeEnv(r));
  const tree = own?.modules ?? join(guest.root, 'lib/modules', guest.kernelRelease);
  for (const m of new Set(r.devices.map((d) => d.module))) writeFileSync(join(s2, 'mod', `${m}.ko`), moduleBytes(tree, m));
  const kdumpInitrd = join(work, 'initrd-kdump.cpio.gz');
  cpioGz(s2, kdumpInitrd);

  cpSync(s2, s1, { recursive: true, verbatimSymlinks: true });
  const image = own?.image ?? join(guest.root, 'boot', `vmlinuz-${guest.kernelRelease}`);
  // Debian's arm64 vmlinuz is the uncompressed Image (no EFI zboot): kexec -p loads it as is.
  if (readFileSync(image).subarray(56, 60).toString('latin1') !== 'ARM\x64')
    throw new Error(`reference: ${image} is not an arm64 Image (kexec -p needs the uncompressed Image)`);
  mkdirSync(join(s1, 'kdump'));
  copyFileSync(image, join(s1, 'kdump/Image'));
  copyFileSync(kdumpInitrd, join(s1, 'kdump/initrd.cpio.gz'));
  mkdirSync(join(s1, 'sbin'));
  copyFileSync(join(guest.root, 'sbin/kexec'), join(s1, 'sbin/kexec'));
  chmodSync(join(s1, 'sbin/kexec'), 0o755);
  for (const d of ['lib', 'usr/lib/aarch64-linux-gnu']) {
    cpSync(join(guest.root, d), join(s1, d), { recursive: true, verbatimSymlinks: true, filter: (src) => !src.includes('/modules') });
  }
  const initrd = join(work, 'initrd-primary.cpio.gz');
  cpioGz(s1, initrd);
  return { initrd, image };
}
