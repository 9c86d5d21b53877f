// SPDX-License-Identifier: Apache-2.0
// `npm run bench -- <name> [--json] [--write] [--scale N]`: runs a benchmark; --write records
// the result in BENCHMARKS.md under the benchmark's heading, with the command that produced it.
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { cpus } from 'node:os';
import { benchTranslate } from './translate';

const TARGETS: Record<string, Record<string, number>> = { translate: { hit: 0.25, walk: 0.1 } };

const DESCRIPTIONS: Record<string, string> = {
  translate: [
    '`SmmuV3.translate()` on a stage-1 stream (4K granule, 48-bit VA, 1024 pages spread over several L0/L1/L2 tables).',
    '- **hit**: STE, CD and TLB entry cached; the floor is a bare `Map.get` on the same page-number keys. The hit path is one STE-memo check, one TLB `Map.get`, the permission check, counters and the result object.',
    '- **walk**: a one-entry TLB and alternating pages, so every translation walks all four levels (and inserts/evicts a TLB entry); the floor is four raw `PhysicalMemory.readDword` calls on the same descriptors.',
    'What bounds them: the result object and counters on the hit path; on the walk path the per-level field decode (number readers derived from the pte-* field tables), permission computation and TLB replacement.',
  ].join('\n'),
};

function main(argv: string[]): number {
  const name = argv.find((a) => !a.startsWith('--'));
  const json = argv.includes('--json');
  const write = argv.includes('--write');
  const scaleAt = argv.indexOf('--scale');
  const scale = scaleAt >= 0 ? Number(argv[scaleAt + 1]) : 1;
  if (name !== 'translate') {
    console.error(`usage: npm run bench -- translate [--json] [--write] [--scale N]   (unknown benchmark: ${name ?? '(none)'})`);
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
      console.log(`${k.padEnd(5)} ${v.opsPerSec.toLocaleString('en')} ops/s, floor ${v.floorOpsPerSec.toLocaleString('en')} ops/s, ratio ${v.ratio} (target >= ${TARGETS.translate![k]})`);
    }
  }
  if (write) record(name, result, argv);
  const failed = Object.entries(result).filter(([k, v]) => v.ratio < TARGETS.translate![k]!);
  if (failed.length) console.error(`below target: ${failed.map(([k]) => k).join(', ')}`);
  return 0;
}

function record(name: string, result: ReturnType<typeof benchTranslate>, argv: string[]): void {
  const file = join(__dirname, '..', '..', 'BENCHMARKS.md');
  const body = existsSync(file) ? readFileSync(file, 'utf8') : '# Benchmarks\n\nEvery number is a ratio against a floor measured in the same run on the same machine, so they compare across machines; absolute rates are for context only.\n';
  const cmd = `npm run bench -- ${argv.filter((a) => a !== '--write').join(' ')}`;
  const rows = Object.entries(result)
    .map(([k, v]) => `| ${k} | ${v.opsPerSec.toLocaleString('en')} | ${v.floorOpsPerSec.toLocaleString('en')} | **${v.ratio}** | >= ${TARGETS[name]![k]} | ${v.ratio >= TARGETS[name]![k]! ? 'met' : 'NOT met'} |`)
    .join('\n');
  const section = `## ${name}\n\n${DESCRIPTIONS[name]}\n\nCommand: \`${cmd}\` (Node ${process.version}, ${cpus().length} CPUs, median of 5 runs)\n\n| path | ops/s | floor ops/s | ratio | target | |\n|---|---|---|---|---|---|\n${rows}\n`;
  const re = new RegExp(`## ${name}\\n[\\s\\S]*?(?=\\n## |$)`);
  const next = re.test(body) ? body.replace(re, section.trimEnd() + '\n') : `${body.trimEnd()}\n\n${section}`;
  writeFileSync(file, next);
}

process.exitCode = main(process.argv.slice(2));
