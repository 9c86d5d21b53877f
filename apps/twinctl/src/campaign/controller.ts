// SPDX-License-Identifier: Apache-2.0
// The campaign controller: stores the campaign document, publishes the work items that have no
// result yet, and follows the results stream until every item has one. It keeps no state of its
// own: everything is in the two streams, so a controller that is killed and started again with
// the same document resumes (items already queued are dropped by JetStream's de-duplication
// inside its window, and a result counts once per item id whatever happens).

import { AckPolicy, DeliverPolicy, nanos, type Consumer, type JetStreamManager, type JsMsg, type NatsConnection } from 'nats';
import {
  campaignMatrix,
  parseCampaign,
  progressOf,
  workItem,
  type CampaignMatrix,
  type CampaignResult,
  type CampaignSpec,
  type Progress,
} from '@kdump-twin/scenario';
import { canonical, codec, ensureQueue, lastOn, RESULTS_STREAM, retryNats, SUBJECT, WORK_STREAM, WORKERS, type QueueOptions } from './queue';

export class CampaignConflict extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CampaignConflict';
  }
}

export interface StoredCampaign {
  readonly spec: CampaignSpec;
  readonly document: unknown;
  /**
   * The stream sequence of the stored document: the campaign's generation. Message ids of its
   * work and results carry it, so a campaign purged and queued again inside the duplicate window
   * is not taken for the old one, and late results of the old one are not counted.
   */
  readonly generation: number;
}

/** Reads the campaign document stored for `id`, or undefined. */
export async function storedCampaign(jsm: JetStreamManager, id: string): Promise<StoredCampaign | undefined> {
  const m = await lastOn(jsm, SUBJECT.spec(id));
  if (!m) return undefined;
  const document = (m.data as { document?: unknown }).document;
  return { spec: parseCampaign(document, `stored campaign ${id}`), document, generation: m.seq };
}

/** Every result of the campaign so far, by item number, with the first and last storage times. */
export interface Collected {
  readonly results: Map<number, CampaignResult>;
  firstAt: number | null;
  lastAt: number | null;
  /** Result messages seen for an item that already had one (none while the results stream keeps one per subject). */
  duplicates: number;
}

function isResult(v: unknown, spec: CampaignSpec, generation: number): v is CampaignResult {
  const r = v as Partial<CampaignResult & { generation: number }> | null;
  return (
    !!r &&
    r.generation === generation &&
    r.campaign === spec.id &&
    typeof r.n === 'number' &&
    Number.isInteger(r.n) &&
    r.n >= 0 &&
    r.n < spec.total &&
    r.id === `${spec.id}/${r.n}` &&
    typeof r.attempt === 'number'
  );
}

/** How long one pull of the results stays open; a following read checks its signal between pulls. */
const PULL_EXPIRES_MS = 2_000;
/** Attempts to create a reading consumer before the read fails (each is one JetStream API call). */
const READER_ATTEMPTS = 10;
/** Failed pulls in a row (500 ms apart) before a read gives up. */
const READ_FAILURES = 40;

/**
 * An ephemeral pull consumer over one campaign's result subjects, made with an explicit API call
 * (no ack, in memory, one replica, removed by the server after a minute unused) and made again
 * from the next stream sequence when it is lost. Not nats.js's ordered consumer: against a
 * 3-server JetStream (nats-server 2.9) with one server down, its creation was retried forever
 * whenever the server placed it on the offline peer, and the read never returned.
 */
class ResultReader {
  private consumer: Consumer | undefined;
  /** The stream sequence after the last message read. */
  next = 1;

  constructor(
    private readonly nc: NatsConnection,
    private readonly jsm: JetStreamManager,
    private readonly filter: string,
  ) {}

  private async open(): Promise<Consumer> {
    try {
      return await retryNats(
        this.nc,
        async () => {
          const ci = await this.jsm.consumers.add(RESULTS_STREAM, {
            ack_policy: AckPolicy.None,
            deliver_policy: DeliverPolicy.StartSequence,
            opt_start_seq: this.next,
            filter_subject: this.filter,
            mem_storage: true,
            num_replicas: 1,
            inactive_threshold: nanos(60_000),
          });
          return (this.consumer = await this.nc.jetstream().consumers.get(RESULTS_STREAM, ci.name));
        },
        { attempts: READER_ATTEMPTS },
      );
    } catch (e) {
      throw new Error(`cannot read ${RESULTS_STREAM} (${this.filter}): ${(e as Error).message}`, { cause: e });
    }
  }

  /** Messages still to read, or undefined when the consumer is gone (the next pull makes another). */
  async pending(): Promise<number | undefined> {
    try {
      return this.consumer ? (await this.consumer.info()).num_pending : undefined;
    } catch {
      this.consumer = undefined;
      return undefined;
    }
  }

  /** The consumer failed (its server went away): the next pull makes another from `next`. */
  lost(): void {
    this.consumer = undefined;
  }

  async pull(max: number): Promise<AsyncIterable<JsMsg> & { stop(): void }> {
    const c = this.consumer ?? (await this.open());
    return c.fetch({ max_messages: max, expires: PULL_EXPIRES_MS });
  }

  async close(): Promise<void> {
    const name = this.consumer ? (await this.consumer.info(true).catch(() => undefined))?.name : undefined;
    if (name) await this.jsm.consumers.delete(RESULTS_STREAM, name).catch(() => undefined);
  }
}

/**
 * Reads the campaign's results; with `until`, keeps following until it returns true (or the
 * signal aborts), calling `onResult` for each new result. Reads are bounded pulls, so a lost
 * consumer or server is noticed and the read goes on from the next sequence.
 */
export async function collect(
  nc: NatsConnection,
  spec: CampaignSpec,
  generation: number,
  o: { until?: (c: Collected) => boolean; onResult?: (r: CampaignResult, c: Collected) => void; signal?: AbortSignal } = {},
): Promise<Collected> {
  const c: Collected = { results: new Map(), firstAt: null, lastAt: null, duplicates: 0 };
  const follow = o.until;
  if (follow?.(c)) return c;
  const reader = new ResultReader(nc, await nc.jetstreamManager(), SUBJECT.results(spec.id));
  try {
    // Not following: read what is stored now, until a pull brings nothing and nothing is pending.
    let remaining = follow ? Infinity : 1024;
    let failures = 0;
    while (!o.signal?.aborted) {
      let batch: AsyncIterable<JsMsg> & { stop(): void };
      try {
        batch = await reader.pull(Math.min(1024, Math.max(1, remaining)));
      } catch (e) {
        if (nc.isClosed() || ++failures > READ_FAILURES) throw e;
        await new Promise((r) => setTimeout(r, 500));
        continue;
      }
      const abort = () => batch.stop();
      o.signal?.addEventListener('abort', abort, { once: true });
      let stop = false;
      let got = 0;
      try {
        for await (const m of batch) {
          got++;
          reader.next = m.info.streamSequence + 1;
          if (!follow) remaining = m.info.pending;
          let r: unknown;
          try {
            r = codec.decode(m.data);
          } catch {
            continue;
          }
          if (!isResult(r, spec, generation)) continue;
          const at = m.info.timestampNanos / 1e6;
          c.firstAt = c.firstAt === null ? at : Math.min(c.firstAt, at);
          c.lastAt = c.lastAt === null ? at : Math.max(c.lastAt, at);
          if (c.results.has(r.n)) c.duplicates++;
          else {
            c.results.set(r.n, r);
            o.onResult?.(r, c);
          }
          if (follow ? follow(c) : remaining === 0) {
            stop = true;
            break;
          }
        }
        failures = 0;
      } catch (e) {
        // The pull failed part way (the consumer's server is gone, a leader is being elected):
        // read on from the next sequence with a new consumer.
        if (nc.isClosed() || ++failures > READ_FAILURES) throw e;
        reader.lost();
        await new Promise((r) => setTimeout(r, 500));
        continue;
      } finally {
        o.signal?.removeEventListener('abort', abort);
        batch.stop();
      }
      if (stop) break;
      if (got === 0) {
        const p = await reader.pending();
        if (!follow && p === 0) break;
        if (p !== undefined) remaining = p;
      }
    }
  } finally {
    await reader.close();
  }
  return c;
}

export interface Submitted {
  /** Items published now. */
  readonly published: number;
  /** Items JetStream dropped as already queued (same message id inside the window). */
  readonly duplicates: number;
  /** Items that already had a result (a resumed campaign). */
  readonly alreadyDone: number;
  readonly resumed: boolean;
}

/**
 * Stores the campaign document (refusing a different document under the same id) and publishes
 * every item without a result, `window` publishes in flight at a time.
 */
export async function submit(
  nc: NatsConnection,
  document: unknown,
  o: QueueOptions & { window?: number } = {},
): Promise<{ spec: CampaignSpec; generation: number; submitted: Submitted }> {
  const spec = parseCampaign(document);
  const jsm = await ensureQueue(nc, o);
  const js = nc.jetstream();
  let stored = await retryNats(nc, () => lastOn(jsm, SUBJECT.spec(spec.id)));
  if (!stored) {
    // Only if the subject is still empty: of two controllers storing at once, one wins and the
    // other compares. A repeat after a lost answer meets "wrong last sequence" and compares too.
    await retryNats(nc, async () => {
      try {
        await js.publish(SUBJECT.spec(spec.id), codec.encode({ document }), { expect: { lastSubjectSequence: 0 } });
      } catch (e) {
        if (!/wrong last sequence/i.test((e as Error).message)) throw e;
      }
    });
    const now = await retryNats(nc, () => lastOn(jsm, SUBJECT.spec(spec.id)));
    if (!now) throw new Error(`campaign ${spec.id}: the document was stored but cannot be read back`);
    if (canonical((now.data as { document?: unknown }).document) !== canonical(document))
      throw new CampaignConflict(`campaign "${spec.id}" was just stored by another controller with a different document`);
    stored = { ...now, fresh: true } as typeof now;
  } else if (canonical((stored.data as { document?: unknown }).document) !== canonical(document)) {
    throw new CampaignConflict(
      `campaign "${spec.id}" already exists with a different document; give this one a new id, or remove the old one (twinctl campaign purge ${spec.id})`,
    );
  }
  const generation = stored.seq;
  const resumed = !(stored as { fresh?: boolean }).fresh;
  const done = resumed ? (await collect(nc, spec, generation)).results : new Map<number, CampaignResult>();
  let published = 0;
  let duplicates = 0;
  const window = o.window ?? 256;
  const inflight = new Set<Promise<void>>();
  for (let n = 0; n < spec.total; n++) {
    if (done.has(n)) continue;
    const item = workItem(spec, n);
    const data = codec.encode({ ...item, generation });
    // Tried again while a stream leader is elected; the message id makes a repeat a duplicate, never a second item.
    const p = retryNats(nc, () => js.publish(SUBJECT.work(spec.id), data, { msgID: `${item.id}@${generation}` })).then((ack) => {
      if (ack.duplicate) duplicates++;
      else published++;
    });
    inflight.add(p);
    const settled = () => inflight.delete(p);
    p.then(settled, settled);
    if (inflight.size >= window) await Promise.race(inflight);
  }
  await Promise.all(inflight);
  return { spec, generation, submitted: { published, duplicates, alreadyDone: done.size, resumed } };
}

export interface CampaignStatus {
  readonly campaign: string;
  readonly progress: Progress;
  /** Work messages of this campaign still in the queue (not acknowledged). */
  readonly queued: number;
  /** Deliveries to workers not yet acknowledged (all campaigns), and redeliveries so far. */
  readonly consumer: { readonly ackPending: number; readonly redelivered: number; readonly waiting: number } | null;
  readonly matrix: CampaignMatrix;
}

export async function status(nc: NatsConnection, id: string): Promise<CampaignStatus | undefined> {
  const jsm = await nc.jetstreamManager();
  let stored: StoredCampaign | undefined;
  try {
    stored = await storedCampaign(jsm, id);
  } catch (e) {
    if (/stream not found/i.test((e as Error).message)) return undefined;
    throw e;
  }
  if (!stored) return undefined;
  const c = await collect(nc, stored.spec, stored.generation);
  const matrix = campaignMatrix(stored.spec, c.results.values());
  const work = await jsm.streams.info(WORK_STREAM, { subjects_filter: SUBJECT.work(id) }).catch(() => undefined);
  const queued = work?.state.subjects?.[SUBJECT.work(id)] ?? 0;
  const ci = await jsm.consumers.info(WORK_STREAM, WORKERS).catch(() => undefined);
  return {
    campaign: id,
    progress: progressOf(stored.spec.total, c.results.size, matrix.errors, c.firstAt, c.lastAt),
    queued,
    consumer: ci ? { ackPending: ci.num_ack_pending, redelivered: ci.num_redelivered, waiting: ci.num_waiting } : null,
    matrix,
  };
}

/** Removes a campaign: its queued work, its results and its document. */
export async function purge(nc: NatsConnection, id: string): Promise<{ work: number; results: number }> {
  const jsm = await nc.jetstreamManager();
  const work = await jsm.streams.purge(WORK_STREAM, { filter: SUBJECT.work(id) }).catch(() => ({ purged: 0 }));
  const results = await jsm.streams.purge(RESULTS_STREAM, { filter: SUBJECT.results(id) }).catch(() => ({ purged: 0 }));
  await jsm.streams.purge(RESULTS_STREAM, { filter: SUBJECT.spec(id) }).catch(() => undefined);
  return { work: work.purged, results: results.purged };
}
