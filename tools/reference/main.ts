// SPDX-License-Identifier: Apache-2.0
// `npm run reference -- <recipe>`: record real Linux 6.12's kdump on QEMU's SMMUv3 and write the
// decoded recording (tools/reference/README.md). Installs what it needs from Debian's packages
// (as root), builds both initramfs images, runs one cycle, converts the trace.
//   npm run reference -- tools/reference/recipes/status-quo-dma.json
//   npm run reference -- late-driver --out /tmp/rec        (a recipe by name)
//   npm run reference -- late-driver --convert WORKDIR     (convert a cycle's files again)
//   npm run reference -- late-driver --kernel Image --modules lib/modules/6.12.0-series  (your build)
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { convert } from './convert';
import { buildInitramfs } from './initramfs';
import { ensureGuest, ensureHost, qemuVersion } from './packages';
import { runCycle } from './qemu';
import { loadRecipe } from './recipe';
import { formatRecording } from './format';

const here = __dirname;
const root = resolve(here, '..', '..');

/** The "Linux version ..." banner an Image carries: which build made a recording. */
function linuxBanner(image: string): string {
  const m = /Linux version [^\n\0]{1,200}/.exec(readFileSync(image).toString('latin1'));
  if (!m) throw new Error(`reference: ${image} has no "Linux version" banner: is it an arm64 kernel Image?`);
  return m[0].trim();
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      out: { type: 'string', default: join(here, 'recordings') },
      cache: { type: 'string', default: join(root, '.reference') },
      convert: { type: 'string' },
      kernel: { type: 'string' },
      modules: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help || positionals.length !== 1) {
    console.log(
      'usage: npm run reference -- <recipe.json | recipe name> [--out DIR] [--cache DIR] [--convert WORKDIR] [--kernel Image --modules lib/modules/RELEASE]',
    );
    process.exitCode = values.help ? 0 : 2;
    return;
  }
  const arg = positionals[0]!;
  const recipePath = existsSync(arg) ? arg : join(here, 'recipes', `${arg}.json`);
  const recipe = loadRecipe(recipePath);
  const log = (s: string) => console.log(`[reference ${recipe.name}] ${s}`);
  // Absolute: the initramfs is archived from inside its staging directory.
  const cache = resolve(values.cache);
  const work = resolve(values.convert ?? join(cache, 'work', recipe.name));
  const files = { trace: join(work, 'trace.log'), console: join(work, 'console.log') };
  let versions: Record<string, string>;
  if (values.convert) {
    versions = JSON.parse(readFileSync(join(work, 'versions.json'), 'utf8')) as Record<string, string>;
  } else {
    ensureHost(log);
    const guest = ensureGuest(cache, recipe.kernelPackage, log);
    if ((values.kernel === undefined) !== (values.modules === undefined))
      throw new Error('reference: --kernel and --modules go together (an Image and the modules tree of the same build)');
    const own = values.kernel && values.modules ? { image: resolve(values.kernel), modules: resolve(values.modules) } : undefined;
    versions = { 'qemu-system-aarch64': qemuVersion(), ...guest.versions };
    if (own) versions[recipe.kernelPackage] = 'not used: own build (linux-banner)';
    mkdirSync(work, { recursive: true });
    log('building the initramfs images');
    const { initrd, image } = buildInitramfs(work, guest, recipe, own);
    versions['linux-banner'] = linuxBanner(image);
    writeFileSync(join(work, 'versions.json'), `${JSON.stringify(versions, null, 2)}\n`);
    const disk = join(work, 'disk.img');
    execFileSync('truncate', ['-s', '64M', disk]);
    log('booting (a cycle takes about half a minute)');
    await runCycle(recipe, image, initrd, disk, files, log);
    execFileSync('sh', ['-c', 'xz -T0 -k -f -6 "$0"', files.trace]);
    log(`trace kept compressed at ${files.trace}.xz`);
  }
  const recording = convert(readFileSync(files.trace, 'utf8'), readFileSync(files.console, 'utf8'), recipe, versions);
  mkdirSync(values.out, { recursive: true });
  const out = join(values.out, `${recipe.name}.json`);
  writeFileSync(out, formatRecording(recording));
  log(`wrote ${out}`);
}

main().catch((e: unknown) => {
  console.error((e as Error).message);
  process.exitCode = 1;
});
