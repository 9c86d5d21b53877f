// SPDX-License-Identifier: Apache-2.0
// Structured logs: one JSON object per line on stdout (time, level, service, message, fields),
// also as NestJS's logger so framework messages come out the same way.

import type { LoggerService } from '@nestjs/common';

export type Level = 'debug' | 'info' | 'warn' | 'error';
const RANK: Record<Level, number> = { debug: 0, info: 1, warn: 2, error: 3 };

export class JsonLogger implements LoggerService {
  constructor(
    readonly service: string,
    readonly replica: string,
    private readonly level: Level = 'info',
    private readonly out: (line: string) => void = (l) => process.stdout.write(`${l}\n`),
  ) {}

  write(level: Level, msg: string, fields: Record<string, unknown> = {}): void {
    if (RANK[level] < RANK[this.level]) return;
    this.out(JSON.stringify({ time: new Date().toISOString(), level, service: this.service, replica: this.replica, msg, ...fields }));
  }

  info(msg: string, fields?: Record<string, unknown>): void {
    this.write('info', msg, fields);
  }

  // LoggerService
  log(message: unknown, context?: string): void {
    this.write('info', String(message), context ? { context } : {});
  }
  error(message: unknown, trace?: string, context?: string): void {
    this.write('error', String(message), { ...(trace ? { trace } : {}), ...(context ? { context } : {}) });
  }
  warn(message: unknown, context?: string): void {
    this.write('warn', String(message), context ? { context } : {});
  }
  debug(message: unknown, context?: string): void {
    this.write('debug', String(message), context ? { context } : {});
  }
  verbose(message: unknown, context?: string): void {
    this.write('debug', String(message), context ? { context } : {});
  }
}
