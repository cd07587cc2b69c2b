import assert from 'node:assert/strict';
import { test } from 'node:test';
import { adfToMarkdown, markdownToAdf } from '../src/adf.js';

test('a paragraph of plain text is the minimal ADF document', () => {
  assert.deepEqual(markdownToAdf('hello'), {
    type: 'doc',
    version: 1,
    content: [{ type: 'paragraph', content: [{ type: 'text', text: 'hello' }] }],
  });
});

test('inline marks: bold, italic, strike, code, links', () => {
  const doc = markdownToAdf('**b** *i* ~~s~~ `c` [site](https://x.test/a) snake_case');
  const content = doc.content[0]!.content!;
  assert.deepEqual(content[0], { type: 'text', text: 'b', marks: [{ type: 'strong' }] });
  assert.deepEqual(content[2], { type: 'text', text: 'i', marks: [{ type: 'em' }] });
  assert.deepEqual(content[4], { type: 'text', text: 's', marks: [{ type: 'strike' }] });
  assert.deepEqual(content[6], { type: 'text', text: 'c', marks: [{ type: 'code' }] });
  assert.deepEqual(content[8], { type: 'text', text: 'site', marks: [{ type: 'link', attrs: { href: 'https://x.test/a' } }] });
  assert.deepEqual(content[9], { type: 'text', text: ' snake_case' });
});

test('blocks: headings, lists (nested, ordered), code, quotes, rules, line breaks', () => {
  const md = [
    '# Title',
    '',
    'line one',
    'line two',
    '',
    '- a',
    '  - a1',
    '- b',
    '',
    '3. three',
    '4. four',
    '',
    '```ts',
    'const x = 1;',
    '```',
    '',
    '> quoted',
    '',
    '---',
  ].join('\n');
  const doc = markdownToAdf(md);
  assert.deepEqual(doc.content.map((n) => n.type), ['heading', 'paragraph', 'bulletList', 'orderedList', 'codeBlock', 'blockquote', 'rule']);
  assert.deepEqual(doc.content[1]!.content!.map((n) => n.type), ['text', 'hardBreak', 'text']);
  const firstItem = doc.content[2]!.content![0]!;
  assert.deepEqual(firstItem.content!.map((n) => n.type), ['paragraph', 'bulletList']);
  assert.deepEqual(doc.content[3]!.attrs, { order: 3 });
  assert.deepEqual(doc.content[4], { type: 'codeBlock', attrs: { language: 'ts' }, content: [{ type: 'text', text: 'const x = 1;' }] });
  // and back, unchanged
  assert.equal(adfToMarkdown(doc), md);
});

test('Markdown survives a round trip through ADF', () => {
  for (const md of [
    'plain',
    '**bold** and *em* and `code` and [a link](https://example.test/x?y=1)',
    '## Steps\n\n1. open\n2. click\n\n- x\n- y',
    'literal \\*stars\\* and \\_under\\_ and snake_case',
    '> a quote\n> on two lines',
  ]) {
    assert.equal(adfToMarkdown(markdownToAdf(md)), md, md);
  }
});

test('ADF nodes Markdown lacks become their text: mentions, emoji, cards, dates, status, tables', () => {
  const doc = {
    type: 'doc',
    version: 1,
    content: [
      {
        type: 'paragraph',
        content: [
          { type: 'mention', attrs: { id: '5b10', text: '@Li Na' } },
          { type: 'text', text: ' ' },
          { type: 'emoji', attrs: { shortName: ':smile:', text: '😄' } },
          { type: 'text', text: ' ' },
          { type: 'inlineCard', attrs: { url: 'https://acme.atlassian.net/browse/OPS-1' } },
          { type: 'text', text: ' ' },
          { type: 'date', attrs: { timestamp: '1767225600000' } },
          { type: 'text', text: ' ' },
          { type: 'status', attrs: { text: 'BLOCKED', color: 'red' } },
        ],
      },
      {
        type: 'table',
        content: [
          { type: 'tableRow', content: [{ type: 'tableHeader', content: [{ type: 'paragraph', content: [{ type: 'text', text: 'k' }] }] }, { type: 'tableHeader', content: [{ type: 'paragraph', content: [{ type: 'text', text: 'v' }] }] }] },
          { type: 'tableRow', content: [{ type: 'tableCell', content: [{ type: 'paragraph', content: [{ type: 'text', text: 'a' }] }] }, { type: 'tableCell', content: [{ type: 'paragraph', content: [{ type: 'text', text: '1' }] }] }] },
        ],
      },
      { type: 'panel', attrs: { panelType: 'info' }, content: [{ type: 'paragraph', content: [{ type: 'text', text: 'note' }] }] },
    ],
  };
  assert.equal(
    adfToMarkdown(doc),
    '@Li Na 😄 https://acme.atlassian.net/browse/OPS-1 2026-01-01 BLOCKED\n\n| k | v |\n| --- | --- |\n| a | 1 |\n\nnote',
  );
});

test('empty, missing and plain-string descriptions', () => {
  assert.equal(adfToMarkdown(null), undefined);
  assert.equal(adfToMarkdown({ type: 'doc', version: 1, content: [] }), undefined);
  assert.equal(adfToMarkdown('wiki *text*'), 'wiki *text*');
});

test('hostile input stays bounded: deep nesting and unmatched delimiters', () => {
  let node: Record<string, unknown> = { type: 'text', text: 'deep' };
  for (let i = 0; i < 10_000; i++) node = { type: 'blockquote', content: [node] };
  assert.equal(typeof (adfToMarkdown({ type: 'doc', version: 1, content: [node] }) ?? ''), 'string');
  const started = Date.now();
  markdownToAdf('*a '.repeat(10_000) + '>'.repeat(1000) + '\n' + '- '.repeat(5000));
  assert.ok(Date.now() - started < 2000, 'linear enough');
});
