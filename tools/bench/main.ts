// SPDX-License-Identifier: Apache-2.0
// `npm run bench -- <name> [--json] [--write] [--scale N]`: runs a benchmark; --write records
// the result in BENCHMARKS.md under the benchmark's heading, with the command that produced it.
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { cpus } from 'node:os';
import { benchScale, type ScaleRow } from './scale';
import { benchTranslate } from './translate';
import { benchDmaPath, type DmaPathRow } from './nats-dma';
import { benchServicesWall, type WallRow } from './services-wall';
import { benchTracing, type TracingRow } from './tracing';
import { benchCampaign, JETSTREAM_OPS_PER_ITEM, type CampaignBench } from './campaign';
import { startNatsServer } from '@kdump-twin/transport/testing';
import { startStack } from '../services/stack';
import type { KdumpPolicy } from '@kdump-twin/kernel';
import { POLICIES } from '@kdump-twin/scenario';

// Issue 17's targets: every DMA transaction in every mode pays the hit path, every miss the walk.
const TARGETS: Record<string, Record<string, number>> = { translate: { hit: 0.5, walk: 0.25 } };

const DESCRIPTIONS: Record<string, string> = {
  translate: [
    '`SmmuV3.translate()` on a stage-1 stream (4K granule, 48-bit VA, 1024 pages spread over several L0/L1/L2 tables).',
    '- **hit**: STE, CD and TLB entry cached; the floor is a bare `Map.get` on the same page-number keys. The hit path is one STE-memo check, one TLB probe (a `KeyTable` by page key), the permission check, counters and the result object.',
    '- **walk**: a one-entry TLB and alternating pages, so every translation walks all four levels (and inserts/evicts a TLB entry); the floor is four raw `PhysicalMemory.readDword` calls on the same descriptors.',
    "Each path and its floor run in 9 interleaved rounds (path, floor, path, floor, ...) after a warm-up of each; the rates are the medians, so the machine's drift within a run lands on both.",
    "What bounds them: on the hit path, the call itself: measured piece by piece (tlbFastPath returning early at each step), a translate() that returns a constant object already costs 0.75 of the floor in this loop, the checks and STE memo about 3 ns, the TLB probe about as much as the floor's own Map.get, and the counters, permission check and result object the rest; removing the result allocation alone did not move it. On the walk path: the four descriptor reads (the floor) and the per-level decode (readers derived from the pte-* field tables) are about 60% of it; the rest is the flow before the walk (STE and CD cache lookups) and the TLB insert. The walk went from 0.096 to about 0.26 by three changes, each measured alone: replacement order as a linked list instead of a Map keyed by entry (an iterator and an object-keyed rehash per eviction), a TLB context's entries in an open-addressing KeyTable instead of a Map (a Map that gains and loses a key per walk reallocates its table every few operations), and no `%` on doubles or `2 ** n` with variable n on the walk (calls to fmod and pow: a POW2 table and floor arithmetic, exact below 2^53).",
  ].join('\n'),
};

DESCRIPTIONS.scale = [
  "The scale scenario (`scaleDocument(N)` in libs/scenario/engine): N devices spread over all 256 PCI buses of one 16-bit SMMU, so the crashed 2-level stream table is full (256 L2 tables), each device mid-DMA at a low rate, the primary boot, the panic, the v7 adoption (6.12 probes a device's IOMMU as its driver binds, so only the dump target's L2 table is mapped and only it is deferred; the NICs, without kdump drivers, keep translating through the adopted tables), and a vmcore save. Each count runs in its own process (peak RSS is its own).",
  '- **time ratio**: run time per device divided by that of the smallest count measured in the same run (1.0 = linear scaling).',
  '- **memory ratio**: peak RSS per device divided likewise.',
  'What bounds them: per device the primary kernel builds a domain (io-pgtable, CD table, ASID), rings and buffers; simulated memory costs 4 KiB of data plus a 16 KiB attribution shadow per touched page, outside the JS heap.',
].join('\n');

function scaleMain(argv: string[]): number {
  const at = argv.indexOf('--sizes');
  const sizes = at >= 0 ? argv[at + 1]!.split(',').map(Number) : [256, 1024, 4096];
  if (sizes.some((n) => !Number.isInteger(n) || n < 2 || n > 65_536)) {
    console.error('--sizes: comma-separated device counts in [2, 65536]');
    return 2;
  }
  const rows = benchScale(sizes);
  if (argv.includes('--json')) console.log(JSON.stringify(rows));
  else
    for (const r of rows)
      console.log(
        `${String(r.devices).padStart(6)} devices: ${r.wallMs} ms (${r.msPerDevice} ms/device, ratio ${r.timeRatio}), peak RSS ${r.maxRssMiB} MiB (${r.kibPerDevice} KiB/device, ratio ${r.memoryRatio}), ${r.transactions} DMA transactions`,
      );
  if (argv.includes('--write')) recordScale(rows, argv);
  return 0;
}

function recordScale(rows: readonly ScaleRow[], argv: string[]): void {
  const cmd = `npm run bench -- ${argv.filter((a) => a !== '--write').join(' ')}`;
  const table = rows
    .map(
      (r) =>
        `| ${r.devices} | ${r.wallMs} | ${r.msPerDevice} | **${r.timeRatio}** | ${r.maxRssMiB} | ${r.kibPerDevice} | **${r.memoryRatio}** | ${r.transactions} |`,
    )
    .join('\n');
  const section = `## scale\n\n${DESCRIPTIONS.scale}\n\nCommand: \`${cmd}\` (Node ${process.version}, ${cpus().length} CPUs)\n\n| devices | run ms | ms/device | time ratio | peak RSS MiB | KiB/device | memory ratio | DMA transactions |\n|---|---|---|---|---|---|---|---|\n${table}\n`;
  writeSection('scale', section);
}

DESCRIPTIONS['nats-dma'] = [
  "DMA transactions per second through the services' path, fleet -> NATS -> platform -> completion: the platform end is the real FleetCoupler over RemoteFleet (JSON codec, Rpc), each request applied by `applyDma` on an SMMUv3 twin translating a stage-1 stream (4K granule, TLB warm); the fleet end answers each slice with a burst of B requests shaped as FleetSim shapes them (alternating 64-byte non-posted reads and posted writes) and checks every completion it gets back. One slice is one NATS request/reply.",
  '- **baseline**: raw NATS request/reply round trips per second with opaque payloads of the same request and reply sizes, on the same nats-server in the same run.',
  '- **ratio**: DMA/s divided by (raw round trips/s x B). Target: at B = 256 the ratio is at least 0.5.',
  'What bounds it: on top of the round trip, the fleet end unpacks the completions and packs B requests (float64 columns, one data block: libs/shared/transport slice-pack.ts), the platform end unpacks them, translates and performs each (about 1 us a request here) and packs the completions; the codec is a few percent, buffers travel as binary attachments. The round trip itself varies by a third from round to round on this machine, which is why the rounds are interleaved; even so the B = 256 ratio is close to its target: eleven runs on one day gave 0.44 to 0.56, the lower ones while raw round trips on the machine were about a third slower.',
].join('\n');

DESCRIPTIONS['services-wall'] = [
  'Scenario wall time in one process against the same run through the four services (each a process, over a nats-server on loopback), same scenario and seed; the two reports are compared byte for byte. In process: median of 3 after a warm-up; over services: one run.',
  '- **ratio**: services / in process.',
  'What bounds it: every dependent step is a NATS round trip: each fleet slice (a device waits for a read completion before it goes on) and each kernel MMIO read, sleep or load of a page it does not hold; the round-trip counts are in the table.',
  '- **kernel DMI**: smmu-twin\'s `KERNEL_DMI`. `on` (the default): the kernels keep the pages they load and every answer carries the pages others wrote since (docs/services.md, "Direct memory for kernels"); `off`: every kernel load crosses NATS, as before it existed. `--dmi off,on` runs both, a fresh stack each, in one run of the bench: compare the services ms of a scenario\'s off and on rows (the in-process column is measured again for each and moves by tens of percent on this machine).',
  '- **device DMI**: smmu-twin\'s `DEVICE_DMI`, likewise (docs/services.md, "Direct memory for devices"): `on`, the fleet answers the requests the platform granted and a read no longer ends its slice; `off`, every read does. `--device-dmi off,on` runs both.',
  "- **run-ahead**: smmu-twin's `RUN_AHEAD`, likewise (docs/services.md, \"Run-ahead\"): `on`, a kernel's paced thread (the NIC driver's transmit thread) runs its wake-ups ahead while nothing else can happen; `off`, each is a round trip. `--run-ahead off,on` runs both.",
  '- **wait-until**: smmu-twin\'s `WAIT_UNTIL`, likewise (docs/services.md, "Wait-until"): `on`, a poll loop whose last iteration changed nothing waits on the platform until what it reads changes; `off`, each wake-up is a round trip. `--wait-until off,on` runs both.',
  "- **round trips**: every NATS request/reply of the run, counted by smmu-twin where it starts and logged with the run (libs/shared/transport round-trips.ts, read by tools/bench/round-trips.ts), sorted by cause in the second table: kernel loads, MMIO accesses, sleeps, poll wake-ups (a sleep naming its next load), the dump's page list, the runner's serviceIrqs ticks and other calls into a kernel, and fleet slices by what ended them (a read of its own, the horizon: someone else's task, timer or tick, an AER error, a single instant).",
  "- **per round trip / floor**: the run's wall time divided by its round trips, against a bare NATS request/reply (256 bytes each way, median of 2,000) on the same server just before the run.",
  '`--runs id:policy,...` picks the rows (default: every policy on baseline, S13-latched-cmdq-err and S10h-asid-alias-v7).',
].join('\n');

DESCRIPTIONS.tracing = [
  'What tracing costs: scenario baseline, policy adopt-v7, seed 7, untraced, traced at the default job ratio (0.001; every job in flight at the panic is kept too) and traced with every job (always_on), exporting OTLP/protobuf to a real receiver in the same run. In process: median of 3 interleaved rounds after a warm-up; through the four services (with --services): one run per setting, a fresh stack each. Every report is compared with the untraced in-process one.',
  '- **ratio**: wall time / the untraced wall time of the same place.',
  'What bounds it: in process, building and exporting the spans of the kept jobs (always_on: every transaction is three spans, exported while the run waits for the exporter to catch up) and keeping each open job until it ends; over services, the W3C headers every NATS message carries and their extraction on the other side (tens of thousands of round trips a run). Over services a single run of each setting is noisy: two earlier runs of the same command that day gave 1.48 and 1.55 (ratio 0.001), 1.79 and 1.27 (always_on), this one the table below; the wall time of an untraced run over services varies by a third between runs on this machine.',
].join('\n');

async function tracingMain(argv: string[]): Promise<number> {
  const rows: TracingRow[] = await benchTracing('baseline', 'adopt-v7', { services: argv.includes('--services') });
  if (argv.includes('--json')) console.log(JSON.stringify(rows));
  else
    for (const r of rows)
      console.log(
        `${r.where.padEnd(10)} ${r.setting.padEnd(11)} ${String(r.ms).padStart(7)} ms  ratio ${r.ratio}  ${r.spans} spans  same report: ${r.sameReport}`,
      );
  if (argv.includes('--write')) {
    const cmd = `npm run bench -- ${argv.filter((a) => a !== '--write').join(' ')}`;
    const table = rows
      .map(
        (r) =>
          `| ${r.where} | ${r.setting} | ${r.ms.toLocaleString('en')} | **${r.ratio}** | ${r.spans.toLocaleString('en')} | ${r.sameReport ? 'yes' : 'NO'} |`,
      )
      .join('\n');
    writeSection(
      'tracing',
      `## tracing\n\n${DESCRIPTIONS.tracing}\n\nCommand: \`${cmd}\` (Node ${process.version}, ${cpus().length} CPUs)\n\n| where | setting | wall ms | ratio | spans exported | same report |\n|---|---|---|---|---|---|\n${table}\n`,
    );
  }
  return rows.every((r) => r.sameReport) ? 0 : 1;
}

async function natsDmaMain(argv: string[]): Promise<number> {
  const at = argv.indexOf('--batches');
  const batches = at >= 0 ? argv[at + 1]!.split(',').map(Number) : [1, 16, 256, 4096];
  if (batches.some((n) => !Number.isInteger(n) || n < 1 || n > 4096)) {
    console.error('--batches: comma-separated batch sizes in [1, 4096]');
    return 2;
  }
  const nats = await startNatsServer();
  let rows: DmaPathRow[];
  try {
    rows = await benchDmaPath(nats.url, batches);
  } finally {
    await nats.stop();
  }
  if (argv.includes('--json')) console.log(JSON.stringify(rows));
  else
    for (const r of rows)
      console.log(
        `batch ${String(r.batch).padStart(4)}: ${r.dmaPerSec.toLocaleString('en')} DMA/s; raw NATS ${r.rawRoundTripsPerSec.toLocaleString('en')} round trips/s at ${r.requestBytes}/${r.replyBytes} B; ratio ${r.ratio}`,
      );
  const at256 = rows.find((r) => r.batch === 256);
  if (argv.includes('--write')) {
    const cmd = `npm run bench -- ${argv.filter((a) => a !== '--write').join(' ')}`;
    const table = rows
      .map(
        (r) =>
          `| ${r.batch} | ${r.requestBytes.toLocaleString('en')} / ${r.replyBytes.toLocaleString('en')} | ${r.dmaPerSec.toLocaleString('en')} | ${r.rawRoundTripsPerSec.toLocaleString('en')} | ${(r.rawRoundTripsPerSec * r.batch).toLocaleString('en')} | **${r.ratio}** |${r.batch === 256 ? ` >= 0.5: ${r.ratio >= 0.5 ? 'met' : 'NOT met'} |` : ' |'}`,
      )
      .join('\n');
    writeSection(
      'nats-dma',
      `## nats-dma\n\n${DESCRIPTIONS['nats-dma']}\n\nCommand: \`${cmd}\` (Node ${process.version}, ${cpus().length} CPUs, nats-server on 127.0.0.1; medians of 5 interleaved DMA and raw rounds)\n\n| batch B | request / reply bytes | DMA/s | raw round trips/s | raw x B | ratio | target |\n|---|---|---|---|---|---|---|\n${table}\n`,
    );
  }
  if (at256 && at256.ratio < 0.5) console.error(`below target at batch 256: ${at256.ratio} < 0.5`);
  return 0;
}

DESCRIPTIONS.campaign = [
  'Campaign throughput against worker count: `campaigns/ci-scale.json` (two STE/L1STD corruptions x two panic instants x five policies, 5 ms after kexec) cut to the seeds given, queued on a nats-server of its own (JetStream, file storage) and run by N `twinctl campaign worker` processes, each pulling one item at a time, publishing its result and acknowledging.',
  '- **baseline**: the same items one after another in one process, no queue, no NATS.',
  '- **ratio**: campaign runs/s divided by the baseline runs/s; **efficiency**: ratio / min(N, CPUs) (1.0 = every core running scenarios, nothing lost to the queue, the controller or start-up). The rate is from the first to the last result timestamp in the results stream.',
  "- **N processes, no queue**: the same items split over N plain runner processes side by side (`tools/bench/campaign-child.ts`), no NATS: what this machine gives N runners at all. **queue keeps**: campaign runs/s divided by that, the share of the machine's parallel rate left after the queue, the controller and nats-server take theirs.",
].join('\n');

/** The cluster projection, from this run's numbers: what the text under the table says. */
function campaignProjection(r: CampaignBench, cores: number): string {
  const one = r.rows.find((x) => x.workers === 1);
  const perWorker = one ? one.runsPerSec : r.baselineRunsPerSec;
  const ceiling = Math.round(r.jetstreamPublishesPerSec / JETSTREAM_OPS_PER_ITEM);
  const at = (w: number) => Math.min(w * perWorker, ceiling);
  const knee = Math.floor(ceiling / perWorker);
  const p1 = one?.parallelRunsPerSec;
  const pMax = r.rows.reduce((best, x) => (x.parallelRunsPerSec > best.parallelRunsPerSec ? x : best), r.rows[0]!);
  const keeps = r.rows.map((x) => x.queueEfficiency);
  const machine = p1
    ? `Without any queue, ${pMax.workers} processes side by side gave ${(pMax.parallelRunsPerSec / p1).toFixed(2)}x one process here, so the flat rows are this VM's cores, not the queue; the queue kept ${Math.min(...keeps)}-${Math.max(...keeps)} of what the machine gave the same number of runners.`
    : '';
  return [
    machine,
    '',
    `Projection to a cluster (deploy/k8s, one CPU per worker pod, no worker sharing a core): a worker runs ${perWorker} runs/s of these items (the 1-worker row; on this ${cores}-CPU machine more workers only share the cores, so the rows above flatten at ${cores}). W workers give about W x ${perWorker} runs/s until JetStream is the limit. The same nats-server took ${r.jetstreamPublishesPerSec} acknowledged publishes/s (512 B, file storage, R1, 64 in flight) and an item costs about ${JETSTREAM_OPS_PER_ITEM} JetStream operations (work publish, pull, result lookup, result publish, ack, controller read), so one R1 server carries about ${ceiling} items/s: the knee is near ${knee} workers.`,
    '',
    `| workers | projected runs/s | 20,000 runs of these items |\n|---|---|---|\n${[16, 64, 256].map((w) => `| ${w} | ${Math.round(at(w))} | ${Math.round(20_000 / at(w))} s |`).join('\n')}`,
    '',
    `Not measured here: R3 streams (campaign-large) replicate every write to two more servers before it is acknowledged, so expect the ceiling lower by the replication round trip; longer scenarios (the scale scenario, the baseline at ~0.5 s) shrink the queue's share (about ${p1 ? (1000 / perWorker - 1000 / p1).toFixed(0) : '?'} ms of CPU and round trips per item here, against a ${r.baselineMeanRunMs} ms run) and move the knee out in proportion.`,
  ].join('\n');
}

async function campaignMain(argv: string[]): Promise<number> {
  const at = argv.indexOf('--workers');
  const counts = (at >= 0 ? argv[at + 1]! : '1,2,4').split(',').map(Number);
  const sAt = argv.indexOf('--seeds');
  const seeds = sAt >= 0 ? Number(argv[sAt + 1]) : 20;
  if (counts.some((n) => !(n >= 1)) || !(seeds >= 1)) {
    console.error('--workers 1,2,4 and --seeds N: positive integers');
    return 2;
  }
  const r = await benchCampaign(counts, seeds, cpus().length);
  const projection = campaignProjection(r, cpus().length);
  if (argv.includes('--json')) console.log(JSON.stringify(r));
  else {
    console.log(`baseline (in process, sequential): ${r.baselineRunsPerSec} runs/s, ${r.baselineMeanRunMs} ms/run`);
    for (const row of r.rows)
      console.log(
        `${row.workers} workers: ${row.runsPerSec} runs/s over ${row.items} items, ratio ${row.ratio}, efficiency ${row.efficiency}; ${row.workers} queue-free processes ${row.parallelRunsPerSec} runs/s, queue keeps ${row.queueEfficiency}`,
      );
    console.log(`JetStream: ${r.jetstreamPublishesPerSec} acknowledged publishes/s\n\n${projection}`);
  }
  if (argv.includes('--write')) {
    const cmd = `npm run bench -- ${argv.filter((a) => a !== '--write').join(' ')}`;
    const table = r.rows
      .map(
        (row) =>
          `| ${row.workers} | ${row.items} | ${row.runsPerSec} | **${row.ratio}** | ${row.efficiency} | ${row.parallelRunsPerSec} | **${row.queueEfficiency}** |`,
      )
      .join('\n');
    writeSection(
      'campaign',
      `## campaign\n\n${DESCRIPTIONS.campaign}\n\nCommand: \`${cmd}\` (Node ${process.version}, ${cpus().length} CPUs)\n\nBaseline: ${r.baselineRunsPerSec} runs/s (${r.baselineMeanRunMs} ms per run) in one process.\n\n| workers | items | runs/s | ratio to baseline | efficiency | same items, N processes, no queue: runs/s | queue keeps |\n|---|---|---|---|---|---|---|\n${table}\n\n${projection}\n`,
    );
  }
  return 0;
}

async function servicesWallMain(argv: string[]): Promise<number> {
  // The issue's rows: every policy on baseline, S13-latched-cmdq-err and S10h-asid-alias-v7;
  // --runs id:policy,... picks others (e.g. one row to compare modes quickly).
  const runsArg = argv.find((a) => a.startsWith('--runs='))?.slice(7) ?? (argv.includes('--runs') ? argv[argv.indexOf('--runs') + 1] : undefined);
  const runs: [string, KdumpPolicy][] = runsArg
    ? runsArg.split(',').map((r) => {
        const [id, policy] = r.split(':');
        if (!id || !policy || !(POLICIES as readonly string[]).includes(policy))
          throw new Error(`--runs: id:policy,... with a policy of ${POLICIES.join(', ')} (got "${r}")`);
        return [id, policy as KdumpPolicy];
      })
    : ['baseline', 'S13-latched-cmdq-err', 'S10h-asid-alias-v7'].flatMap((id) => POLICIES.map((p): [string, KdumpPolicy] => [id, p]));
  // --dmi off,on, --device-dmi off,on, --run-ahead off,on, --wait-until off,on: the same runs with
  // smmu-twin's KERNEL_DMI, DEVICE_DMI, RUN_AHEAD, WAIT_UNTIL off, then on (a stack each), so each saving is measured in
  // one run of the bench; default: all on.
  const modesOf = (flag: string): ('on' | 'off')[] => {
    const v = argv.find((a) => a.startsWith(`${flag}=`))?.slice(flag.length + 1) ?? (argv.includes(flag) ? argv[argv.indexOf(flag) + 1] : undefined) ?? 'on';
    const modes = v.split(',');
    for (const m of modes) if (m !== 'on' && m !== 'off') throw new Error(`${flag}: a list of on and off, got "${v}"`);
    return modes as ('on' | 'off')[];
  };
  const rows: WallRow[] = [];
  for (const mode of modesOf('--dmi')) {
    for (const device of modesOf('--device-dmi')) {
      for (const ahead of modesOf('--run-ahead')) {
        for (const wait of modesOf('--wait-until')) {
          const stack = await startStack({ ownNats: true, freePorts: true, env: { KERNEL_DMI: mode, DEVICE_DMI: device, RUN_AHEAD: ahead, WAIT_UNTIL: wait } });
          try {
            rows.push(...(await benchServicesWall(stack, runs, mode, device, ahead, wait)));
          } finally {
            await stack.stop();
          }
        }
      }
    }
  }
  if (argv.includes('--json')) console.log(JSON.stringify(rows));
  else
    for (const r of rows)
      console.log(
        `${r.scenario} ${r.policy} (kernel DMI ${r.dmi}, device DMI ${r.deviceDmi}, run-ahead ${r.runAhead}, wait-until ${r.waitUntil}): in process ${r.inProcessMs} ms, services ${r.servicesMs} ms, ratio ${r.ratio}; ${r.roundTrips.total} round trips (${JSON.stringify(r.roundTrips)}), ${r.usPerRoundTrip} us each, floor ${r.floorUs} us (x${r.perRoundTripRatio}); same report: ${r.sameReport}`,
      );
  if (argv.includes('--write')) {
    const cmd = `npm run bench -- ${argv.filter((a) => a !== '--write').join(' ')}`;
    const n = (x: number) => x.toLocaleString('en');
    const mode = (r: WallRow) => `${r.dmi} / ${r.deviceDmi} / ${r.runAhead} / ${r.waitUntil}`;
    const table = rows
      .map(
        (r) =>
          `| ${r.scenario} | ${r.policy} | ${mode(r)} | ${r.inProcessMs} | ${r.servicesMs} | **${r.ratio}** | ${n(r.roundTrips.total)} | ${r.usPerRoundTrip} | ${r.floorUs} | **${r.perRoundTripRatio}** | ${r.sameReport ? 'yes' : 'NO'} |`,
      )
      .join('\n');
    const causes = rows
      .map((r) => {
        const c = r.roundTrips;
        return `| ${r.scenario} | ${r.policy} | ${mode(r)} | ${n(c.loads)} | ${n(c.mmio)} | ${n(c.sleeps)} | ${n(c.polls)} | ${n(c.dumpList)} | ${n(c.ticks)} | ${n(c.calls)} | ${n(c.slicesRead)} | ${n(c.slicesHorizon)} | ${n(c.slicesAer)} | ${n(c.slicesInstant)} | ${n(c.fleetCalls)} |`;
      })
      .join('\n');
    writeSection(
      'services-wall',
      `## services-wall\n\n${DESCRIPTIONS['services-wall']}\n\nCommand: \`${cmd}\` (Node ${process.version}, ${cpus().length} CPUs)\n\n| scenario | policy | kernel DMI / device DMI / run-ahead / wait-until | in process ms | services ms | ratio | round trips | us per round trip | NATS floor us | per round trip / floor | same report |\n|---|---|---|---|---|---|---|---|---|---|---|\n${table}\n\nRound trips by cause (round-trips.ts):\n\n| scenario | policy | kernel DMI / device DMI / run-ahead / wait-until | loads | MMIO | sleeps | poll wake-ups | dump list | ticks | other calls | slices: own read | slices: horizon | slices: AER | slices: one instant | other fleet calls |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n${causes}\n`,
    );
  }
  return rows.every((r) => r.sameReport) ? 0 : 1;
}

function writeSection(name: string, section: string): void {
  const file = join(__dirname, '..', '..', 'BENCHMARKS.md');
  const body = existsSync(file)
    ? readFileSync(file, 'utf8')
    : '# Benchmarks\n\nEvery number is a ratio against a baseline measured in the same run on the same machine, so they compare across machines; absolute numbers are for context only.\n';
  const re = new RegExp(`## ${name}\\n[\\s\\S]*?(?=\\n## |$)`);
  const next = re.test(body) ? body.replace(re, section.trimEnd() + '\n') : `${body.trimEnd()}\n\n${section}`;
  writeFileSync(file, next);
}

async function main(argv: string[]): Promise<number> {
  const name = argv.find((a) => !a.startsWith('--') && !/^[\d,]+$/.test(a));
  if (name === 'scale') return scaleMain(argv);
  if (name === 'nats-dma') return natsDmaMain(argv);
  if (name === 'services-wall') return servicesWallMain(argv);
  if (name === 'tracing') return tracingMain(argv);
  if (name === 'campaign') return campaignMain(argv);
  const json = argv.includes('--json');
  const write = argv.includes('--write');
  const scaleAt = argv.indexOf('--scale');
  const scale = scaleAt >= 0 ? Number(argv[scaleAt + 1]) : 1;
  if (name !== 'translate') {
    console.error(
      `usage: npm run bench -- translate [--json] [--write] [--scale N] | scale [--sizes 256,1024,4096] [--json] [--write] | nats-dma [--batches 1,16,256,4096] [--json] [--write] | services-wall [--runs id:policy,...] [--dmi off,on] [--device-dmi off,on] [--run-ahead off,on] [--wait-until off,on] [--json] [--write] | tracing [--services] [--json] [--write] | campaign [--workers 1,2,4] [--seeds N] [--json] [--write]   (unknown benchmark: ${name ?? '(none)'})`,
    );
    return 2;
  }
  if (!(scale > 0)) {
    console.error('--scale: a positive number');
    return 2;
  }
  const result = benchTranslate(scale);
  if (json) console.log(JSON.stringify(result));
  else {
    for (const [k, v] of Object.entries(result)) {
      console.log(
        `${k.padEnd(5)} ${v.opsPerSec.toLocaleString('en')} ops/s, floor ${v.floorOpsPerSec.toLocaleString('en')} ops/s, ratio ${v.ratio} (target >= ${TARGETS.translate![k]})`,
      );
    }
  }
  if (write) record(name, result, argv);
  const failed = Object.entries(result).filter(([k, v]) => v.ratio < TARGETS.translate![k]!);
  if (failed.length) console.error(`below target: ${failed.map(([k]) => k).join(', ')}`);
  return 0;
}

function record(name: string, result: ReturnType<typeof benchTranslate>, argv: string[]): void {
  const cmd = `npm run bench -- ${argv.filter((a) => a !== '--write').join(' ')}`;
  const rows = Object.entries(result)
    .map(
      ([k, v]) =>
        `| ${k} | ${v.opsPerSec.toLocaleString('en')} | ${v.floorOpsPerSec.toLocaleString('en')} | **${v.ratio}** | >= ${TARGETS[name]![k]} | ${v.ratio >= TARGETS[name]![k]! ? 'met' : 'NOT met'} |`,
    )
    .join('\n');
  const section = `## ${name}\n\n${DESCRIPTIONS[name]}\n\nCommand: \`${cmd}\` (Node ${process.version}, ${cpus().length} CPUs, medians of 9 interleaved rounds)\n\n| path | ops/s | floor ops/s | ratio | target | |\n|---|---|---|---|---|---|\n${rows}\n`;
  writeSection(name, section);
}

main(process.argv.slice(2)).then(
  (code) => (process.exitCode = code),
  (e: unknown) => {
    console.error(`bench: ${e instanceof Error ? e.message : String(e)}`);
    process.exitCode = 1;
  },
);
