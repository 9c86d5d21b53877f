// SPDX-License-Identifier: Apache-2.0
// The campaign bench's queue-free reference: runs the items n = i, i+k, i+2k, ... of the bench
// campaign one after another in this process (after a warm-up) and prints one JSON line with
// the epoch milliseconds of its measured part, so k of these side by side show what the machine
// gives k runners with no NATS at all.
import { parseCampaign, runWorkItem, workItem } from '@kdump-twin/scenario';

async function main(): Promise<void> {
  const [doc, k, i] = [JSON.parse(process.argv[2]!) as unknown, Number(process.argv[3]), Number(process.argv[4])];
  const spec = parseCampaign(doc);
  const runItem = (n: number) => runWorkItem(workItem(spec, n));
  for (let n = 0; n < Math.min(10, spec.total); n++) await runItem(n);
  const start = performance.timeOrigin + performance.now();
  let items = 0;
  for (let n = i; n < spec.total; n += k, items++) await runItem(n);
  console.log(JSON.stringify({ items, start, end: performance.timeOrigin + performance.now() }));
}

void main();
