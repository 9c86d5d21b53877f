// SPDX-License-Identifier: Apache-2.0
// The part of madge 8's API cycles.spec.ts uses (madge ships no types; @types/madge describes 5).
declare module 'madge' {
  interface MadgeConfig {
    baseDir?: string;
    fileExtensions?: string[];
    tsConfig?: string;
    detectiveOptions?: Record<string, unknown>;
    excludeRegExp?: RegExp[];
  }
  interface MadgeResult {
    /** Every file and what it imports. */
    obj(): Record<string, string[]>;
    /** Each import cycle as the files on it. */
    circular(): string[][];
  }
  function madge(path: string | string[], config?: MadgeConfig): Promise<MadgeResult>;
  export default madge;
}
