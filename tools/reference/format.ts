// SPDX-License-Identifier: Apache-2.0
// A recording as committed: JSON with every small object or array on one line (one register
// access, one command, one outcome run per line), so a re-recording diffs line by line.
import type { Recording } from './recording';

const INLINE = 140;

function fmt(v: unknown, indent: string): string {
  const flat = JSON.stringify(v);
  if (flat === undefined) return 'null';
  if (v === null || typeof v !== 'object' || flat.length <= INLINE) return flat;
  const inner = `${indent}  `;
  if (Array.isArray(v)) return `[\n${v.map((x) => inner + fmt(x, inner)).join(',\n')}\n${indent}]`;
  const entries = Object.entries(v as Record<string, unknown>).filter(([, x]) => x !== undefined);
  return `{\n${entries.map(([k, x]) => `${inner}${JSON.stringify(k)}: ${fmt(x, inner)}`).join(',\n')}\n${indent}}`;
}

export function formatRecording(r: Recording): string {
  return `${fmt(r, '')}\n`;
}
