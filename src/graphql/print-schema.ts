// Prints the Pothos schema to schema.graphql; with --check, fails when the committed file is stale.
import { fileURLToPath } from 'node:url';
import { lexicographicSortSchema, printSchema } from 'graphql';
import { writeOrCheck } from '../generated-file.ts';
import { schema } from './schema.ts';

export const SCHEMA_FILE = fileURLToPath(new URL('../../schema.graphql', import.meta.url));

export function printedSchema(): string {
  return `${printSchema(lexicographicSortSchema(schema))}\n`;
}

if (import.meta.main) writeOrCheck(SCHEMA_FILE, printedSchema(), 'npm run schema');
