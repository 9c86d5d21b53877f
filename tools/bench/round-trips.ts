// SPDX-License-Identifier: Apache-2.0
// What a run over the services spends its NATS round trips on: smmu-twin counts them where they
// start (libs/shared/transport round-trips.ts) and logs them with the run; and the floor each
// round trip is measured against: a bare NATS request/reply between two processes on the same
// server, in the same run.
import { spawn } from 'node:child_process';
import { connect } from 'nats';
import type { RoundTrips } from '@kdump-twin/transport';

/** A run's round trips by cause, from the "run done" line smmu-twin logs (libs/shared/transport round-trips.ts), and their total. */
export async function roundTripsOf(logs: () => string, runId: string): Promise<RoundTrips & { total: number }> {
  for (let i = 0; i < 100; i++) {
    for (const line of logs().split('\n')) {
      if (!line.includes(runId) || !line.includes('"run done"')) continue;
      const c = (JSON.parse(line) as { roundTrips?: RoundTrips }).roundTrips;
      if (!c) throw new Error(`smmu-twin's "run done" line for ${runId} has no roundTrips`);
      return { ...c, total: Object.values(c).reduce((x, y) => x + y, 0) };
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`smmu-twin logged no "run done" line for ${runId}`);
}

/**
 * Median microseconds of a bare NATS request/reply (a 256-byte body each way) on `url`, over `n`
 * round trips, between this process and a responder in a process of its own: the shape of every
 * round trip of a run (two processes, the server between them).
 */
export async function natsFloorUs(url: string, n = 2000): Promise<number> {
  const responder = spawn(process.execPath, ['-e', RESPONDER, url], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    await new Promise<void>((ok, fail) => {
      responder.stdout!.once('data', () => ok());
      responder.once('exit', (code) => fail(new Error(`the floor's responder exited (${code}) before it was ready`)));
    });
    const a = await connect({ servers: url });
    try {
      const body = new Uint8Array(256);
      for (let i = 0; i < 200; i++) await a.request('bench.floor', body, { timeout: 10_000 }); // warm-up
      const us: number[] = [];
      for (let i = 0; i < n; i++) {
        const t0 = process.hrtime.bigint();
        await a.request('bench.floor', body, { timeout: 10_000 });
        us.push(Number(process.hrtime.bigint() - t0) / 1e3);
      }
      us.sort((x, y) => x - y);
      return us[Math.floor(n / 2)]!;
    } finally {
      await a.close();
    }
  } finally {
    responder.kill();
  }
}

/** The responder: answers every request on bench.floor with 256 bytes; says "ready" once subscribed. */
const RESPONDER = `
const { connect } = require('nats');
connect({ servers: process.argv[1] }).then(async (nc) => {
  const body = new Uint8Array(256);
  nc.subscribe('bench.floor', { callback: (_e, m) => m.respond(body) });
  await nc.flush();
  process.stdout.write('ready\\n');
});
`;
