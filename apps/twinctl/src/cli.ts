// SPDX-License-Identifier: Apache-2.0
// twinctl commands. `run` takes argv and returns the exit code and output, so the same code is
// driven by bin/twinctl.js and by the tests.

import { decodedJson, decodeFormat, findFormat, formatNames, hex, layoutJson, type Layout, RegisterLayout, resolveFormat } from '@kdump-twin/smmu-arch';
import { CAMPAIGN_USAGE, SCENARIO_USAGE } from './usage';
import { toDecodedFormat, toFormatLayout } from './wire';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Exit codes: 0 success, 1 a value or field was rejected, 2 bad usage (unknown command or format). */
export const EXIT = { OK: 0, REJECTED: 1, USAGE: 2 } as const;

export const USAGE = `twinctl: the command line of kdump-twin

usage:
  twinctl layout --list [--json]              names of every format
  twinctl layout <format> [--json|--wire]     field table of a register or structure
  twinctl decode <format> <hex>... [--json|--wire] [--all]
                                              decode one value per 64-bit dword (structures)
                                              or one register value
  twinctl encode <format> Field=value ... [--json]
                                              build the dwords / register value; values are
                                              decimal, 0x hex, 0b binary or an enumeration name

${SCENARIO_USAGE}

${CAMPAIGN_USAGE}

formats: registers by architecture name without SMMU_ (CR0, STRTAB_BASE_CFG, EVENTQ_PROD, ...),
ste, cd, l1std, cdl1, evt and evt-<EVENT>, cmd and cmd-<OPCODE>, pte-<s1|s2>-<4k|16k|64k>-<table|page|block-l1|block-l2>.
--json prints the CLI's JSON; --wire prints the twin.arch.v1 message (FormatLayout / DecodedFormat).
Address fields (S1ContextPtr, S2TTB, L2Ptr, ADDR, ...) take and show addresses in place.`;

class Out {
  private readonly o: string[] = [];
  private readonly e: string[] = [];
  line(s = ''): void {
    this.o.push(s);
  }
  err(s: string): void {
    this.e.push(s);
  }
  json(v: unknown): void {
    this.o.push(JSON.stringify(v, null, 2));
  }
  done(code: number): CliResult {
    return { code, stdout: this.o.length ? this.o.join('\n') + '\n' : '', stderr: this.e.length ? this.e.join('\n') + '\n' : '' };
  }
}

interface Parsed {
  positional: string[];
  flags: Set<string>;
}

const KNOWN_FLAGS = new Set(['--json', '--wire', '--list', '--all', '--help', '-h']);

function parse(argv: readonly string[]): Parsed | string {
  const positional: string[] = [];
  const flags = new Set<string>();
  for (const a of argv) {
    if (a.startsWith('-') && !/^-?\d/.test(a)) {
      if (!KNOWN_FLAGS.has(a)) return `unknown option ${a}`;
      flags.add(a);
    } else positional.push(a);
  }
  return { positional, flags };
}

function where(l: Layout, word: number, lsb: number, width: number): string {
  const hi = lsb + width - 1;
  const bits = hi === lsb ? `[${lsb}]` : `[${hi}:${lsb}]`;
  return l.kind === 'structure' ? `dw${word}${bits}` : bits;
}

function pad(s: string, n: number): string {
  return s.length >= n ? s + ' ' : s + ' '.repeat(n - s.length);
}

function lookup(name: string | undefined, out: Out): Layout | undefined {
  if (!name) {
    out.err('twinctl: missing <format>; see `twinctl layout --list`');
    return undefined;
  }
  const l = findFormat(name);
  if (!l) out.err(`twinctl: unknown format "${name}"; see \`twinctl layout --list\``);
  return l;
}

function layoutCmd(p: Parsed, out: Out): number {
  if (p.flags.has('--list')) {
    const names = formatNames();
    if (p.flags.has('--json')) out.json(names);
    else names.forEach((n) => out.line(n));
    return EXIT.OK;
  }
  const l = lookup(p.positional[0], out);
  if (!l) return EXIT.USAGE;
  if (p.flags.has('--wire')) out.json(toFormatLayout(l));
  else if (p.flags.has('--json')) out.json(layoutJson(l));
  else {
    const head =
      l instanceof RegisterLayout
        ? `${l.name}  page ${l.page} offset 0x${l.offset.toString(16).padStart(3, '0')}  ${l.width}-bit ${l.access}  reset ${typeof l.reset === 'bigint' ? hex(l.reset) : l.reset}`
        : `${l.name}  ${l.sizeBytes} bytes`;
    out.line(`${head}  (${l.section})`);
    out.line(`  ${l.doc}`);
    for (const f of l.fields) {
      const enums = f.values
        ? `  {${Object.entries(f.values)
            .map(([k, v]) => `${k}=${v}`)
            .join(', ')}}`
        : '';
      const fixed = f.fixed !== undefined ? `  [=${hex(f.fixed)}]` : '';
      out.line(`  ${pad(where(l, f.word, f.lsb, f.width), 12)}${pad(f.name, 18)}${f.doc}${f.address ? ' (address in place)' : ''}${fixed}${enums}`);
    }
    if (l instanceof RegisterLayout) for (const g of l.guards) out.line(`  guard: ${g.rule}`);
  }
  return EXIT.OK;
}

function parseWord(s: string): bigint | undefined {
  const t = s.replace(/_/g, '');
  if (!/^(0x[0-9a-f]+|[0-9a-f]+)$/i.test(t)) return undefined;
  return BigInt(t.toLowerCase().startsWith('0x') ? t : `0x${t}`);
}

function decodeCmd(p: Parsed, out: Out): number {
  const l = lookup(p.positional[0], out);
  if (!l) return EXIT.USAGE;
  const raw = p.positional.slice(1);
  if (raw.length === 0) {
    out.err(`twinctl: decode ${l.name} needs ${l.kind === 'register' ? 'one register value' : `up to ${l.words} hex dwords (dw0 first)`}`);
    return EXIT.USAGE;
  }
  if (raw.length > l.words) {
    out.err(`twinctl: ${l.name} has ${l.words} ${l.kind === 'register' ? 'value' : '64-bit dword(s)'}, got ${raw.length}`);
    return EXIT.REJECTED;
  }
  const words: bigint[] = [];
  for (const [i, s] of raw.entries()) {
    const v = parseWord(s);
    if (v === undefined) {
      out.err(`twinctl: ${l.kind === 'register' ? 'value' : `dw${i}`} "${s}" is not a hex number`);
      return EXIT.REJECTED;
    }
    const bits = l.wordBits;
    if (v >> BigInt(bits) !== 0n) {
      out.err(`twinctl: ${l.kind === 'register' ? `${l.name} value` : `dw${i}`} ${hex(v)} is wider than ${bits} bits`);
      return EXIT.REJECTED;
    }
    words.push(v);
  }
  const used = resolveFormat(l, words);
  const d = decodeFormat(l, words);
  if (p.flags.has('--wire')) {
    out.json(toDecodedFormat(d, words));
    return EXIT.OK;
  }
  if (p.flags.has('--json')) {
    out.json(decodedJson(d));
    return EXIT.OK;
  }
  out.line(`${d.format}${used !== l ? ` (decoded from ${l.name})` : ''}  (${used.section})`);
  if (raw.length < l.words) out.line(`  dw${raw.length}..dw${l.words - 1} not given, taken as 0`);
  const names = d.names as Record<string, string | undefined>;
  for (const f of used.fields) {
    const v = (d.fields as Record<string, bigint>)[f.name]!;
    if (v === 0n && !p.flags.has('--all')) continue;
    out.line(`  ${pad(where(used, f.word, f.lsb, f.width), 12)}${pad(f.name, 18)}${hex(v)}${names[f.name] ? ` (${names[f.name]})` : ''}`);
  }
  for (const r of d.res0) out.line(`  RES0 ${r.bits} set: ${hex(r.value)}`);
  for (const r of d.reserved) out.line(`  reserved: ${r.field}=${hex(r.value)}: ${r.rule}`);
  return EXIT.OK;
}

function encodeCmd(p: Parsed, out: Out): number {
  const l = lookup(p.positional[0], out);
  if (!l) return EXIT.USAGE;
  const values: Record<string, string> = {};
  for (const a of p.positional.slice(1)) {
    const eq = a.indexOf('=');
    if (eq <= 0) {
      out.err(`twinctl: "${a}" is not Field=value`);
      return EXIT.USAGE;
    }
    const name = a.slice(0, eq);
    if (Object.prototype.hasOwnProperty.call(values, name)) {
      out.err(`twinctl: ${l.name}.${name} given twice`);
      return EXIT.REJECTED;
    }
    values[name] = a.slice(eq + 1);
  }
  const r = l.encode(values);
  if (!r.ok) {
    out.err(`twinctl: ${r.error.message}`);
    return EXIT.REJECTED;
  }
  if (p.flags.has('--json')) out.json({ format: l.name, words: r.words.map(hex) });
  else if (l.kind === 'register') out.line(hex(r.words[0]!));
  else r.words.forEach((w, i) => out.line(`dw${i} 0x${w.toString(16).padStart(16, '0')}`));
  return EXIT.OK;
}

export function run(argv: readonly string[]): CliResult {
  const out = new Out();
  const [cmd, ...rest] = argv;
  if (!cmd || cmd === '--help' || cmd === '-h' || cmd === 'help') {
    out.line(USAGE);
    return out.done(cmd ? EXIT.OK : EXIT.USAGE);
  }
  const p = parse(rest);
  if (typeof p === 'string') {
    out.err(`twinctl: ${p}`);
    return out.done(EXIT.USAGE);
  }
  switch (cmd) {
    case 'layout':
      return out.done(layoutCmd(p, out));
    case 'decode':
      return out.done(decodeCmd(p, out));
    case 'encode':
      return out.done(encodeCmd(p, out));
    default:
      out.err(`twinctl: unknown command "${cmd}"\n\n${USAGE}`);
      return out.done(EXIT.USAGE);
  }
}
