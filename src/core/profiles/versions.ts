// Compiled profile versions, shared by everything in a process that renders. Pure: the caller
// reads versions from the database; this only compiles and keeps them.
import { BoundedMap } from '../bounded-map.ts';
import { compiledBuiltIn } from './builtins.ts';
import type { ProfileDefinition } from './definition.ts';
import { CompiledProfile } from './render.ts';

/** Versions never change, so each is compiled once per process (1 000 at most are kept). */
const compiled = new BoundedMap<string, CompiledProfile>(1000);

/** A version already at hand: a built-in (its id is its name) or one compiled before. */
export function knownVersion(id: string): CompiledProfile | undefined {
  return compiledBuiltIn(id) ?? compiled.get(id);
}

/** A stored version, compiled on first use. Throws `ExpressionError` if it does not compile (it did when it was saved). */
export function compiledVersion(row: { id: string; name: string; definition: ProfileDefinition }): CompiledProfile {
  let version = knownVersion(row.id);
  if (!version) {
    version = new CompiledProfile({ id: row.id, name: row.name, definition: row.definition });
    compiled.set(row.id, version);
  }
  return version;
}
