// SPDX-License-Identifier: Apache-2.0
// DMA through the services' path, fleet -> NATS -> platform -> completion, next to raw NATS
// request/reply of the same payload sizes, measured in the same run on the same nats-server.
//
// The platform end is the real one: FleetCoupler (libs/endpoint) over RemoteFleet
// (libs/shared/transport, JSON codec and Rpc), each request applied by applyDma on an SMMUv3 twin
// translating a stage-1 stream (4K granule, 1024 mapped pages, TLB warm after the first pass).
// The fleet end answers each slice with a burst of B requests the way FleetSim shapes them (a
// device's reads of 64 B, non-posted, and posted writes of 64 B, alternating, on distinct
// pages) and takes the completions of the previous burst, checking each one. One slice is one
// NATS request/reply, so DMA transactions/s = B x slices/s; the raw rate is round trips/s of
// opaque payloads with the slice's request and reply sizes. Wall-clock timing is fine here: this
// is a tool, not a model.
import { connect, type NatsConnection } from 'nats';
import { FleetCoupler, type DmaRequest, type FleetRequest, type FleetSliceIn, type FleetSliceOut } from '@kdump-twin/endpoint';
import { applyDma } from '@kdump-twin/scenario';
import { fixture, bringUp, cd, ste, PageTables } from '@kdump-twin/smmu-model/testing';
import { encode, packSliceOut, RemoteFleet, Rpc, SUBJECTS, unpackSliceIn, type WireSliceIn } from '@kdump-twin/transport';

export interface DmaPathRow {
  readonly batch: number;
  /** Bytes of one slice request (with the previous burst's completions) and of its reply (the burst). */
  readonly requestBytes: number;
  readonly replyBytes: number;
  readonly dmaPerSec: number;
  readonly rawRoundTripsPerSec: number;
  /** Median over interleaved rounds of DMA/s / (raw round trips/s x batch): the share of raw NATS the DMA path keeps. */
  readonly ratio: number;
}

const SID = 7;
const PAGES = 1024;
const SESSION = 'bench-dma';

function platform() {
  const f = fixture({ tlbEntries: 2048, configCacheEntries: 64 });
  const q = bringUp(f);
  const pt = new PageTables(f, 1, '4k', 48);
  const vas: number[] = [];
  for (let i = 0; i < PAGES; i++) {
    const va = 0x40_0000_0000 + 0x1000 * i;
    vas.push(va);
    pt.map(va, 0x8800_0000 + 0x1000 * i);
  }
  const cdAddr = f.alloc(64, 64);
  f.writeWords(cdAddr, cd(pt, 1));
  f.writeWords(q.strtab + 64 * SID, ste({ Config: 'S1_TRANS', S1ContextPtr: BigInt(cdAddr), S1STALLD: 1 }));
  return { smmu: f.smmu, vas };
}

/** The fleet end: answers `init`, then each slice with `batch` requests; counts and checks completions. */
function serveFleet(rpc: Rpc, vas: readonly number[], batch: () => number, sizes: { request: number; reply: number; measure: boolean }, bad: { n: number }) {
  let ticket = 0;
  let job = 0;
  const data = new Uint8Array(64).fill(0xa5);
  rpc.serve(SUBJECTS.fleetOpen, () => ({ ok: true }));
  rpc.serve(SUBJECTS.fleet(SESSION), (body, msg) => {
    const m = body as { call: string; input?: WireSliceIn; pack?: boolean };
    if (m.call === 'init') return { next: 0, devices: 1 };
    if (m.call !== 'slice' || !m.input) throw new RangeError(`call: init or slice (got ${m.call})`);
    // As FleetHost does it: the input unpacked, the answer packed when asked.
    const input: FleetSliceIn = unpackSliceIn(m.input);
    for (const c of input.completions) if (c.completion.status !== 'SC' || c.completion.data?.length !== 64) bad.n++;
    const t = input.t;
    const requests: FleetRequest[] = [];
    for (let i = 0; i < batch(); i++) {
      const read = i % 2 === 0;
      const address = vas[(job * 7 + i) % vas.length]! + 0x40 * (i % 32);
      // Built as the endpoint (Endpoint.send) and FleetSim (its DMA port) build them.
      const req: DmaRequest = { sid: SID, address, size: 64, write: !read, ats: undefined, data: read ? undefined : data };
      const sub = {
        sid: req.sid,
        ssid: req.ssid,
        address: req.address,
        size: req.size,
        write: req.write,
        ats: req.ats,
        data: req.data,
        device: 'bench0',
        phase: read ? ('desc-fetch' as const) : ('rx-data' as const),
        job: ++job,
        generation: 0,
        latencyNs: read ? 800 : 0,
      };
      requests.push({
        sid: sub.sid,
        ssid: sub.ssid,
        address: sub.address,
        size: sub.size,
        write: sub.write,
        ats: sub.ats,
        data: sub.data,
        device: sub.device,
        phase: sub.phase,
        job: sub.job,
        generation: sub.generation,
        latencyNs: sub.latencyNs,
        time: t,
        ticket: ++ticket,
      });
    }
    const plain: FleetSliceOut & { next: number } = { requests, aer: [], jobs: [], reached: t, next: t + 1000 };
    const out = m.pack === true ? packSliceOut(plain) : plain;
    // Message sizes when asked, once per batch size after the warm-up (encoding every reply twice would bill the bench's own work to the path).
    if (sizes.measure) {
      sizes.measure = false;
      sizes.request = msg.data.length;
      sizes.reply = encode({ r: out }).length;
    }
    return out;
  });
}

/** Round trips per second of `count` requests of `reqBytes` (the responder answers with the slice reply's size). */
async function raw(nc: NatsConnection, reqBytes: number, count: number): Promise<number> {
  const payload = new Uint8Array(reqBytes).fill(0x41);
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < count; i++) await nc.request('bench.raw', payload, { timeout: 10_000 });
  return count / (Number(process.hrtime.bigint() - t0) / 1e9);
}

export async function benchDmaPath(natsUrl: string, batches: readonly number[]): Promise<DmaPathRow[]> {
  // As the services connect (libs/shared/service): no async stack traces per request.
  const fleetNc = await connect({ servers: natsUrl, noAsyncTraces: true });
  const platNc = await connect({ servers: natsUrl, noAsyncTraces: true });
  const fleetRpc = new Rpc(fleetNc);
  const platRpc = new Rpc(platNc);
  const { smmu, vas } = platform();
  let b = 1;
  const sizes = { request: 0, reply: 0, measure: false };
  const bad = { n: 0 };
  serveFleet(fleetRpc, vas, () => b, sizes, bad);
  let rawReply = new Uint8Array(0);
  fleetNc.subscribe('bench.raw', { callback: (_e, m) => m.respond(rawReply) });
  await fleetNc.flush();
  const link = await RemoteFleet.open(platRpc, SESSION, { id: 'bench' } as never);
  const coupler = new FleetCoupler(
    link,
    { at: () => undefined, horizon: () => undefined, apply: (req) => applyDma(smmu, req) },
    () => ({ aer: { UR: 'fatal', CA: 'fatal', ATS: 'fatal' } }) as never,
  );
  let t = 0;
  const rows: DmaPathRow[] = [];
  try {
    for (const batch of batches) {
      b = batch;
      // Bounded: at least 40 slices, at most 2000, about 200k transactions a measurement.
      const slices = Math.min(2000, Math.max(40, Math.ceil(200_000 / batch)));
      // Warm-up (JIT, TLB, and the steady state where each slice carries the previous burst's completions).
      for (let i = 0; i < Math.min(50, slices); i++) await coupler.step((t += 1000));
      // One more slice, in the steady state (it carries the previous burst's completions), gives the sizes.
      sizes.measure = true;
      await coupler.step((t += 1000));
      rawReply = new Uint8Array(sizes.reply).fill(0x42);
      for (let i = 0; i < 20; i++) await platNc.request('bench.raw', new Uint8Array(sizes.request), { timeout: 10_000 });
      // Interleaved rounds (DMA, then raw, five times): drift in what the machine gives us hits both alike; medians of each.
      const dma: number[] = [];
      const rawRates: number[] = [];
      const ratios: number[] = [];
      for (let round = 0; round < 5; round++) {
        const t0 = process.hrtime.bigint();
        for (let i = 0; i < slices; i++) await coupler.step((t += 1000));
        const d = (slices * batch) / (Number(process.hrtime.bigint() - t0) / 1e9);
        const r = await raw(platNc, sizes.request, slices);
        dma.push(d);
        rawRates.push(r);
        ratios.push(d / (r * batch));
      }
      const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[2]!;
      const dmaPerSec = med(dma);
      const rawRoundTripsPerSec = med(rawRates);
      const ratio = med(ratios);
      rows.push({
        batch,
        requestBytes: sizes.request,
        replyBytes: sizes.reply,
        dmaPerSec: Math.round(dmaPerSec),
        rawRoundTripsPerSec: Math.round(rawRoundTripsPerSec),
        ratio: Math.round(ratio * 1000) / 1000,
      });
    }
    if (bad.n) throw new Error(`${bad.n} completions were not a successful 64-byte read: the bench measured a broken path`);
  } finally {
    await fleetNc.close();
    await platNc.close();
  }
  return rows;
}
