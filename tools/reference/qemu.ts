// SPDX-License-Identifier: Apache-2.0
// One cycle on QEMU: boot the primary kernel on `virt,iommu=smmuv3`, let /init crash it, let
// the kdump kernel run, and record QEMU's SMMU trace (-trace smmuv3_* smmu_*, -d guest_errors)
// and the console, each console line stamped with the host's clock in QEMU's trace format
// (seconds.microseconds since the epoch) so the two can be merged. While the guest runs, a
// bounded loop connects to the guest NIC through QEMU's user network at the recipe's rate,
// which keeps the NIC writing received frames into its ring through the crash.
import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { connect } from 'node:net';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { freePort } from '@kdump-twin/transport/testing';
import { extraParams, type Recipe } from './recipe';

/** A console line and the host time it arrived (seconds since the epoch, microseconds). */
export interface StampedLine {
  readonly t: number;
  readonly line: string;
}

export interface CycleFiles {
  readonly trace: string;
  readonly console: string;
}

const CYCLE_TIMEOUT_MS = 240_000;
/** edk2 for QEMU's virt machine (Debian's qemu-efi-aarch64, which qemu-system-arm brings). */
export const QEMU_EFI = '/usr/share/qemu-efi-aarch64/QEMU_EFI.fd';

const hostNow = (): number => (performance.timeOrigin + performance.now()) / 1000;

export function qemuArgs(r: Recipe, image: string, initrd: string, disk: string, files: CycleFiles, port: number): string[] {
  const args = ['-M', 'virt,iommu=smmuv3', '-cpu', r.machine.cpu, '-m', String(r.machine.memoryMiB), '-smp', '1', '-nographic', '-no-reboot'];
  const acpi = r.machine.firmware === 'acpi';
  // UEFI (edk2's QEMU_EFI.fd, with QEMU) builds the ACPI tables, IORT included; acpi=force makes Linux use them.
  if (acpi) args.push('-bios', QEMU_EFI);
  const more = extraParams(r, 'primary');
  args.push(
    '-kernel',
    image,
    '-initrd',
    initrd,
    '-append',
    `console=ttyAMA0 crashkernel=${r.machine.crashkernelMiB}M rdinit=/init${more.map((x) => ` ${x}`).join('')}`,
  );
  for (const d of r.devices) {
    const addr = `addr=0x${d.slot.toString(16)}`;
    if (d.model === 'virtio-blk-pci') {
      args.push(
        '-drive',
        `if=none,id=d${d.slot},file=${disk},format=raw`,
        '-device',
        `virtio-blk-pci,drive=d${d.slot},iommu_platform=on,disable-legacy=on,${addr}`,
      );
    } else {
      args.push('-netdev', `user,id=n${d.slot},hostfwd=tcp:127.0.0.1:${port}-10.0.2.15:22`, '-device', `e1000e,netdev=n${d.slot},${addr}`);
    }
  }
  args.push('-trace', 'smmuv3_*', '-trace', 'smmu_*', '-d', 'guest_errors', '-msg', 'timestamp=on', '-D', files.trace);
  return args;
}

/** Runs one cycle; resolves when QEMU exits (the kdump kernel powers off), rejects on a hang. */
export async function runCycle(r: Recipe, image: string, initrd: string, disk: string, files: CycleFiles, log: (s: string) => void): Promise<void> {
  const port = await freePort();
  const q = spawn('qemu-system-aarch64', qemuArgs(r, image, initrd, disk, files, port), { stdio: ['ignore', 'pipe', 'pipe'] });
  const out = createWriteStream(files.console);
  let traffic: NodeJS.Timeout | undefined;
  let connects = 0;
  const startTraffic = () => {
    if (traffic || r.dma.rxConnectsPerSecond === 0) return;
    traffic = setInterval(() => {
      connects++;
      const s = connect({ host: '127.0.0.1', port });
      s.on('error', () => s.destroy());
      s.setTimeout(300, () => s.destroy());
    }, 1000 / r.dma.rxConnectsPerSecond);
  };
  const lines = createInterface({ input: q.stdout });
  lines.on('line', (line) => {
    out.write(`${hostNow().toFixed(6)} ${line}\n`);
    if (/^REF [0-9.]+ net-ready/.test(line)) startTraffic();
    if (/^REF /.test(line)) log(line);
  });
  let stderr = '';
  q.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  const timer = setTimeout(() => q.kill('SIGKILL'), CYCLE_TIMEOUT_MS);
  const code = await new Promise<number | null>((resolve) => q.on('close', resolve));
  clearTimeout(timer);
  if (traffic) clearInterval(traffic);
  await new Promise<void>((resolve) => out.end(resolve));
  log(`qemu exited (${code}); ${connects} connects to the guest NIC`);
  if (code !== 0)
    throw new Error(
      `reference: qemu-system-aarch64 exited with ${code}${code === null ? ` (killed after ${CYCLE_TIMEOUT_MS / 1000} s)` : ''}: ${stderr.trim().slice(-2000)}`,
    );
}
