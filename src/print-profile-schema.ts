// npm run profile-schema — prints the JSON Schema of a delivery profile's definition to
// delivery-profile.schema.json; with --check, fails when the committed file is stale.
import { fileURLToPath } from 'node:url';
import { profileJsonSchema } from './core/profiles/definition.ts';
import { writeOrCheck } from './generated-file.ts';

export const PROFILE_SCHEMA_FILE = fileURLToPath(new URL('../delivery-profile.schema.json', import.meta.url));

/** The definition's JSON Schema (draft 2020-12, input side: defaults optional) as committed, pretty-printed with a final newline. */
export function printedProfileSchema(): string {
  const { $schema, ...rest } = profileJsonSchema();
  const schema = { $schema, title: 'Herald delivery profile definition (upsertDeliveryProfile input.definition)', ...rest };
  return `${JSON.stringify(schema, null, 2)}\n`;
}

if (import.meta.main) writeOrCheck(PROFILE_SCHEMA_FILE, printedProfileSchema(), 'npm run profile-schema');
