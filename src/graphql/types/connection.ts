import type { ObjectRef } from '@pothos/core';
import { builder } from '../builder.ts';

/** A Relay connection type named `<Name>Connection` with `<Name>Edge` edges. */
// biome-ignore lint/suspicious/noExplicitAny: any builder's ref (Pothos types the ref by its schema types)
export function connectionOf<T>(name: string, node: ObjectRef<any, T>) {
  return builder.connectionObject({ type: node, name: `${name}Connection` }, { name: `${name}Edge` });
}
