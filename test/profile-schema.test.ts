import { readFileSync } from 'node:fs';
import { expect, test } from 'vitest';
import { PROFILE_SCHEMA_FILE, printedProfileSchema } from '../src/print-profile-schema.ts';

test('the committed delivery-profile.schema.json is the printed schema (run `npm run profile-schema`)', () => {
  expect(readFileSync(PROFILE_SCHEMA_FILE, 'utf8')).toBe(printedProfileSchema());
});
