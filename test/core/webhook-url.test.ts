import { describe, expect, test } from 'vitest';
import { parseWebhookUrl } from '../../src/core/webhook-url.ts';

describe('parseWebhookUrl', () => {
  test.each([
    ['https://Hooks.EXAMPLE.com:443/a/./b/../c?q=ü', 'https://hooks.example.com/a/c?q=%C3%BC'],
    ['HTTPS://example.com', 'https://example.com/'],
    ['https://0x7f.1:8443/x', 'https://127.0.0.1:8443/x'],
    ['https://[0:0:0:0:0:ffff:7f00:1]/', 'https://[::ffff:7f00:1]/'],
    ['https://example.com/already/normal?x=1', 'https://example.com/already/normal?x=1'],
  ])('%s is normalised to %s, which is its own normal form', (raw, href) => {
    const parsed = parseWebhookUrl(raw, false);
    expect(parsed).toMatchObject({ href });
    expect(parseWebhookUrl(href, false)).toMatchObject({ href });
  });

  // WHATWG parsing drops a tab, CR or LF anywhere and trims the rest at the ends: each of these
  // would have been requested as another URL than the one typed.
  test.each([
    ['a tab', 'https://example.com/a\tb'],
    ['a CR LF', 'https://example.com/a\r\nb'],
    ['a LF in the host', 'https://exa\nmple.com/'],
    ['a leading space', ' https://example.com/'],
    ['a trailing space', 'https://example.com/ '],
    ['a space inside', 'https://example.com/a b'],
    ['a no-break space', 'https://example.com/a\u00a0b'],
    ['NUL', 'https://example.com/a\u0000'],
    ['DEL', 'https://example.com/a\u007f'],
    ['a C1 control', 'https://example.com/a\u0085'],
  ])('%s is refused', (_case, raw) => {
    expect(parseWebhookUrl(raw, true)).toEqual({ problem: 'must not contain whitespace or control characters' });
  });

  test.each([
    ['https://example.com/hook#section', /fragment/],
    ['https://example.com/hook#', /fragment/],
    ['http://example.com/hook', /https:\/\//],
    ['ftp://example.com/hook', /https:\/\//],
    ['https://user:pw@example.com/', /user-info/],
    ['not-a-url', /not a valid URL/],
    [`https://example.com/${'a'.repeat(2048)}`, /at most 2048/],
    // 700 characters that each become 6 (%C3%BC) once percent-encoded: short as typed, long as requested.
    [`https://example.com/${'ü'.repeat(700)}`, /at most 2048 characters once normalised/],
  ])('%s is refused', (raw, problem) => {
    const parsed = parseWebhookUrl(raw, false);
    expect('problem' in parsed && parsed.problem).toMatch(problem);
  });

  test('http:// is accepted only when allowed', () => {
    expect(parseWebhookUrl('http://example.com/hook', true)).toMatchObject({ href: 'http://example.com/hook' });
  });
});
