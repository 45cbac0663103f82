// Herald as a library: the receiver-side helper and the signing primitives.

export type { SignatureScheme } from './core/signing.ts';
export { signatureHeaders } from './core/signing.ts';
export { verifyWebhook, WebhookVerificationError } from './core/verify.ts';
