// SPDX-License-Identifier: Apache-2.0
// What the campaign end-to-end tests share: twinctl as real processes (from the sources under
// test, not a build that may be stale), run to completion or kept running, and a bounded wait.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { twinctlCommand } from './command';

export const root = join(__dirname, '..', '..', '..', '..');
process.env['TWINCTL_FROM_SOURCE'] = '1';

export interface Proc {
  readonly p: ChildProcess;
  err: string;
  readonly exited: Promise<number | null>;
}

/** A twinctl process left running; its stderr is collected in `err`. */
export function start(args: string[]): Proc {
  // The real process (not the npm bin's wrapper), so signals reach it.
  const c = twinctlCommand(args);
  const p = spawn(c.file, c.args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], env: { ...c.env, KDUMP_TWIN_EXIT_WITH_PARENT: '1' } });
  const proc: Proc = { p, err: '', exited: new Promise((resolve) => p.once('exit', (code) => resolve(code))) };
  p.stderr!.on('data', (b: Buffer) => (proc.err += b.toString()));
  return proc;
}

/**
 * A twinctl command run to its end: exit code, stdout and stderr. One that is still running after
 * `timeoutMs` is killed and reported with what it printed, so a hang fails its test, saying
 * where, long before the file's timeout.
 */
export function twinctl(args: string[], timeoutMs = 120_000): Promise<{ code: number; out: string; err: string }> {
  const c = twinctlCommand(args);
  return new Promise((resolve, reject) =>
    execFile(c.file, c.args, { cwd: root, env: c.env, maxBuffer: 64 << 20, timeout: timeoutMs, killSignal: 'SIGKILL' }, (e, out, err) => {
      if (e && (e as { killed?: boolean }).killed) reject(new Error(`twinctl ${args.join(' ')}: still running after ${timeoutMs} ms, killed\n${err}`));
      else resolve({ code: e ? ((e as { code?: number }).code ?? 1) : 0, out, err });
    }),
  );
}

/** The process's exit code, or an error with the tail of what it printed when it runs past `timeoutMs`. */
export async function exitWithin(proc: Proc, what: string, timeoutMs: number): Promise<number | null> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: still running after ${timeoutMs} ms\n${proc.err.slice(-4000)}`)), timeoutMs);
  });
  try {
    return await Promise.race([proc.exited, late]);
  } finally {
    clearTimeout(timer);
  }
}

export async function waitFor(what: string, f: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await f())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
