import { createHash, randomBytes } from 'node:crypto';

// Crockford base32: ids sort by creation time as plain strings, which keeps
// cursors stable and lets "newest first" use the primary-key index.
const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';

export type IdPrefix = 'ten' | 'key' | 'etp' | 'wh' | 'evt' | 'dlv' | 'att' | 'ps' | 'dpv';

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

const ID_BODY = /^[a-z]+_([0-9a-hjkmnp-tv-z]{26})$/;

/**
 * An id's 128 bits as 32 lowercase hex characters (for contracts that expect `evt_<32 hex>`):
 * the 48-bit millisecond time then the 80 random bits, so it is as unique as the id and the same
 * every time. An id not made by `newId` gets the first 32 hex characters of its SHA-256.
 */
export function idHex(id: string): string {
  const match = ID_BODY.exec(id);
  if (!match || ALPHABET.indexOf(match[1][0]) > 7) return createHash('sha256').update(id).digest('hex').slice(0, 32);
  let time = 0;
  for (const char of match[1].slice(0, 10)) time = time * 32 + ALPHABET.indexOf(char);
  let out = time.toString(16).padStart(12, '0');
  let buffer = 0;
  let bits = 0;
  for (const char of match[1].slice(10)) {
    buffer = ((buffer << 5) | ALPHABET.indexOf(char)) & 0x1ff;
    bits += 5;
    while (bits >= 4) {
      bits -= 4;
      out += ((buffer >> bits) & 15).toString(16);
    }
  }
  return out;
}
