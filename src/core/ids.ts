import { randomBytes } from 'node:crypto';

// Crockford base32: ids sort by creation time as plain strings, which keeps
// cursors stable and lets "newest first" use the primary-key index.
const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';

export type IdPrefix = 'ten' | 'key' | 'etp' | 'wh' | 'evt' | 'dlv' | 'att' | 'ps';

let lastTime = 0;
let lastRandom: Buffer = Buffer.alloc(10);

/** A ULID-style id: 10 chars of milliseconds + 16 chars of randomness, monotonic within a process. */
export function newId(prefix: IdPrefix, now = Date.now()): string {
  let random: Buffer;
  if (now <= lastTime) {
    // Same millisecond (or a clock step back): increment the previous randomness so order holds.
    now = lastTime;
    random = Buffer.from(lastRandom);
    for (let i = random.length - 1; i >= 0; i--) {
      if (random[i] < 255) {
        random[i]++;
        break;
      }
      random[i] = 0;
    }
  } else {
    random = randomBytes(10);
  }
  lastTime = now;
  lastRandom = random;
  return `${prefix}_${encodeTime(now)}${encodeRandom(random)}`;
}

function encodeTime(ms: number): string {
  let out = '';
  for (let i = 0; i < 10; i++) {
    out = ALPHABET[ms % 32] + out;
    ms = Math.floor(ms / 32);
  }
  return out;
}

function encodeRandom(bytes: Buffer): string {
  // 80 bits → 16 base32 characters, 5 bits at a time (no BigInt: this runs per delivery).
  let out = '';
  let buffer = 0;
  let bits = 0;
  for (const byte of bytes) {
    buffer = ((buffer << 8) | byte) & 0xfff;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += ALPHABET[(buffer >> bits) & 31];
    }
  }
  return out;
}

/** The time (ms since the epoch) an id was made at, read from its first 10 characters after the prefix. */
export function idTime(id: string): number {
  const start = id.indexOf('_') + 1;
  let ms = 0;
  for (let i = start; i < start + 10; i++) ms = ms * 32 + ALPHABET.indexOf(id[i]);
  return ms;
}

/** The smallest id that could be made at `ms`: a bound for time-range scans on primary keys. */
export function lowestIdAt(prefix: IdPrefix, ms: number): string {
  return `${prefix}_${encodeTime(ms)}${'0'.repeat(16)}`;
}
