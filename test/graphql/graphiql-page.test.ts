import { expect, test } from 'vitest';
import { graphiqlPage } from '../../src/graphql/graphiql-page.ts';

test('the GraphiQL page is rendered once per set of options, in a worker thread, as UTF-8 bytes', { timeout: 30_000 }, async () => {
  const page = graphiqlPage();
  const first = page({ title: 'Herald', defaultQuery: '# ünïcode kept' });
  const html = new TextDecoder().decode(await first);
  expect(html).toContain('<title>Herald</title>');
  expect(html).toContain('YogaGraphiQL.renderYogaGraphiQL');
  expect(html).toContain('# ünïcode kept');
  // The same options: the bytes already rendered, not a second thread.
  expect(page({ title: 'Herald', defaultQuery: '# ünïcode kept' })).toBe(first);
  const other = new TextDecoder().decode(await page({ title: 'Another' }));
  expect(other).toContain('<title>Another</title>');
});
