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
