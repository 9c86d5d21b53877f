// SPDX-License-Identifier: Apache-2.0
// A dmesg-like kernel log: every message the driver prints, with its level, device and exact
// text, stamped with virtual time, formatted the way `dmesg` shows it.

export type LogLevel = 'err' | 'warn' | 'notice' | 'info' | 'debug';

export interface LogLine {
  /** Virtual time in nanoseconds. */
  readonly time: number;
  /** 'primary' or 'kdump'. */
  readonly kernel: string;
  readonly level: LogLevel;
  /** Linux's dev_name prefix, e.g. "arm-smmu-v3 arm-smmu-v3.0.auto"; '' for a plain printk (a WARNING). */
  readonly device: string;
  readonly text: string;
}

export class Dmesg {
  private readonly lines: LogLine[] = [];

  constructor(
    readonly kernel: string,
    private readonly now: () => number,
    /** A log that also receives every line (a machine's timeline of all its kernels). */
    private readonly sink?: Dmesg,
  ) {}

  log(level: LogLevel, device: string, text: string): void {
    const line = { time: this.now(), kernel: this.kernel, level, device, text };
    this.lines.push(line);
    this.sink?.lines.push(line);
  }

  all(): readonly LogLine[] {
    return this.lines;
  }

  /** Lines whose text contains `needle`. */
  grep(needle: string | RegExp): LogLine[] {
    return this.lines.filter((l) => (typeof needle === 'string' ? l.text.includes(needle) : needle.test(l.text)));
  }

  /** `[    1.234567] device: text` as dmesg prints it (debug lines only with `debug`). */
  format(debug = false): string {
    return this.lines
      .filter((l) => debug || l.level !== 'debug')
      .map((l) => `[${(l.time / 1e9).toFixed(6).padStart(12)}] ${l.device ? `${l.device}: ` : ''}${l.text}`)
      .join('\n');
  }
}
