// A webhook's outbound authentication (DESIGN.md, Webhook `auth`): what is stored, encrypted,
// and the header(s) it adds to every request. Pure: only this folder's decryption.
import { decryptSecret } from './secrets.ts';

/** What is stored (encrypted) for a webhook's outbound authentication. */
export type StoredAuth =
  | { type: 'NONE' }
  | { type: 'BEARER'; token: string }
  | { type: 'BASIC'; username: string; password: string }
  | { type: 'API_KEY'; token: string }
  | { type: 'CUSTOM_HEADER'; headerName: string; headerValue: string };

/** A webhook's outbound authentication, decrypted with the key for secrets at rest. */
export function readAuth(webhook: { authEncrypted?: string | null }, encryptionKey: Buffer): StoredAuth {
  if (!webhook.authEncrypted) return { type: 'NONE' };
  return JSON.parse(decryptSecret(webhook.authEncrypted, encryptionKey)) as StoredAuth;
}

/** The header(s) an auth setting adds to every request, lowercase names. */
export function authHeaders(auth: StoredAuth): Record<string, string> {
  switch (auth.type) {
    case 'NONE':
      return {};
    case 'BEARER':
      return { authorization: `Bearer ${auth.token}` };
    case 'BASIC':
      return { authorization: `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString('base64')}` };
    case 'API_KEY':
      return { 'x-api-key': auth.token };
    case 'CUSTOM_HEADER':
      return { [auth.headerName.toLowerCase()]: auth.headerValue };
  }
}
