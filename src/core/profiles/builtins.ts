// The built-in delivery profiles: Herald's own contract under its three signature schemes
// (DESIGN.md, "What an endpoint receives"). Pure.
import type { SignatureScheme } from '../signing.ts';
import type { ProfileDefinition } from './definition.ts';
import { CompiledProfile, type ProfileVersion } from './render.ts';

export interface BuiltInProfile {
  name: string;
  description: string;
  /** The `signatureScheme` this profile stands for (the older name of the same choice). */
  scheme: SignatureScheme;
  definition: ProfileDefinition;
}

const builtIn = (
  name: string,
  scheme: SignatureScheme,
  description: string,
  signature: ProfileDefinition['signature'],
): BuiltInProfile => ({
  name,
  scheme,
  description,
  // Herald's envelope as the body, Herald's headers, per-webhook whsec_ secrets. Not parsed by
  // the schema: the signature headers are names only Herald may use.
  definition: { headers: {}, heraldHeaders: true, signature, secret: { format: 'WHSEC', scope: 'WEBHOOK' }, defaults: {} },
});

export const BUILT_IN_PROFILES: readonly BuiltInProfile[] = Object.freeze([
  builtIn('standard', 'STANDARD', 'Standard Webhooks: webhook-signature "v1,<base64>" over "{id}.{timestamp}.{body}".', {
    header: 'webhook-signature',
    signs: 'ID_DOT_TIMESTAMP_DOT_BODY',
    key: 'WHSEC_DECODED',
    encoding: 'BASE64',
    format: 'v1,{sig}',
  }),
  builtIn('stripe', 'STRIPE', 'Stripe style: herald-signature "t=<ts>,v1=<hex>" over "{t}.{body}", keyed by the whole secret.', {
    header: 'herald-signature',
    signs: 'TIMESTAMP_DOT_BODY',
    key: 'SECRET_BYTES',
    encoding: 'HEX',
    format: 't={t},v1={sig}',
  }),
  builtIn('hmac-sha256', 'HMAC_SHA256', 'x-herald-signature "sha256=<hex>" over the body, newest secret only.', {
    header: 'x-herald-signature',
    signs: 'BODY',
    key: 'SECRET_BYTES',
    encoding: 'HEX',
    format: 'sha256={sig}',
  }),
]);

const byName = new Map(BUILT_IN_PROFILES.map((p) => [p.name, p]));
const compiled = new Map(
  BUILT_IN_PROFILES.map((p) => [
    p.name,
    new CompiledProfile({ id: p.name, name: p.name, definition: p.definition } satisfies ProfileVersion),
  ]),
);

/** The built-in profile of this name (`standard`, `stripe`, `hmac-sha256`); undefined for any other. */
export function builtInProfile(name: string): BuiltInProfile | undefined {
  return byName.get(name);
}

/** A built-in profile, compiled; its version id is its name (built-ins never change). */
export function compiledBuiltIn(name: string): CompiledProfile | undefined {
  return compiled.get(name);
}

/** The built-in profile a `signatureScheme` stands for. */
export function profileOfScheme(scheme: SignatureScheme): string {
  return BUILT_IN_PROFILES.find((p) => p.scheme === scheme)!.name;
}

/** The `signatureScheme` of a profile: its scheme for a built-in, null for any other. */
export function schemeOfProfile(name: string): SignatureScheme | null {
  return byName.get(name)?.scheme ?? null;
}
