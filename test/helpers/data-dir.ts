import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { removeRelocatedCluster } from '../../src/db/postgres-placement.ts';

/**
 * Removes a Herald data dir and, when its embedded cluster had to live in Herald's root-owned
 * directory (root, data dir out of the postgres user's reach), that cluster too.
 */
export async function removeDataDir(dir: string): Promise<void> {
  const remembered = await readFile(path.join(dir, 'postgres.json'), 'utf8').then(
    (text) => JSON.parse(text) as { cluster?: string },
    () => ({ cluster: undefined }),
  );
  if (remembered.cluster) await removeRelocatedCluster(remembered.cluster);
  await rm(dir, { recursive: true, force: true });
}
