// Files the code prints and the repository commits (schema.graphql, delivery-profile.schema.json):
// written by their npm script, checked by CI with --check.
import { readFileSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';

/**
 * Writes `printed` to `file`, or with `--check` in argv exits 1 when the committed file differs,
 * naming `script` as the fix.
 */
export function writeOrCheck(file: string, printed: string, script: string): void {
  const name = basename(file);
  if (process.argv.includes('--check')) {
    let committed = '';
    try {
      committed = readFileSync(file, 'utf8');
    } catch {}
    if (committed !== printed) {
      console.error(`${name} is out of date: run \`${script}\` and commit the result.`);
      process.exit(1);
    }
    console.log(`${name} is up to date.`);
  } else {
    writeFileSync(file, printed);
    console.log(`wrote ${file}`);
  }
}
