import v8 from 'node:v8';

/**
 * V8 options Herald's processes run with: package.json's `start` and `herald` scripts carry
 * them (a test keeps those in step with this list) and the benchmark starts Herald with them.
 * The `herald` bin keeps a plain `#!/usr/bin/env node` (`env -S` is not everywhere, e.g.
 * BusyBox): run it with NODE_OPTIONS=--max-semi-space-size=16 to get the same.
 *
 * --max-semi-space-size=16: left alone, V8 sizes the young generation from the heap limit,
 * and at 2 000+ deliveries/s a worker kept ~130 MB more resident (RSS 495–536 MB against
 * 403–406 MB in the benchmark's throughput scenario) for no throughput it could measure.
 */
export const NODE_FLAGS: readonly string[] = ['--max-semi-space-size=16'];

/**
 * V8 options that still work when set after start, so Herald sets them itself however it was
 * started (NODE_OPTIONS refuses them).
 *
 * --heap-growing-percent=150: after a full collection V8 lets the heap grow to two and a half
 * times what survived before the next one, instead of up to four times. A process delivering
 * 6-7 000 a second keeps ~70-80 MB alive (the full collections of a throughput run end at 70-77
 * MB); at 200 the heap reached 240-260 MB before each of them (--trace-gc). Measured in the
 * benchmark's throughput scenario in one process (2026-11-30, three rounds, load 2-3): peak RSS
 * 383-405 MB at 200, 337-350 at 150, 308-341 at 120, with no difference in CPU per delivery
 * the runs could tell apart (108-143 us across all of them); 2026-11-23, at 2 400 deliveries/s,
 * 100 took RSS to ~290 MB but cost the worker ~10 % more CPU in GC.
 */
export const RUNTIME_V8_FLAGS: readonly string[] = ['--heap-growing-percent=150'];

export function applyRuntimeV8Flags(): void {
  for (const flag of RUNTIME_V8_FLAGS) v8.setFlagsFromString(flag);
}
