// Unit tests of web/markdown.js's parser (no browser, no server needed).

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { parse, safeHref, toPlainText } from '../../web/markdown.js';

const text = (value) => ({ type: 'text', value });
const p = (...children) => ({ type: 'p', children });

describe('markdown parse', () => {
  test('bold, italics, strike and inline code', () => {
    assert.deepEqual(parse('**b** *i* _j_ ~~s~~ `c *d*`'), [p(
      { type: 'strong', children: [text('b')] }, text(' '),
      { type: 'em', children: [text('i')] }, text(' '),
      { type: 'em', children: [text('j')] }, text(' '),
      { type: 'del', children: [text('s')] }, text(' '),
      { type: 'code', value: 'c *d*' },
    )]);
  });

  test('nested emphasis', () => {
    assert.deepEqual(parse('*a **b** c*'), [p({
      type: 'em',
      children: [text('a '), { type: 'strong', children: [text('b')] }, text(' c')],
    })]);
  });

  test('snake_case, lone stars and unclosed markers stay text', () => {
    assert.deepEqual(parse('snake_case_name 2 * 3 * 4 **open'), [p(text('snake_case_name 2 * 3 * 4 **open'))]);
  });

  test('lists', () => {
    assert.deepEqual(parse('- a\n* **b**\n\n3. three\n4. four'), [
      { type: 'ul', items: [[text('a')], [{ type: 'strong', children: [text('b')] }]] },
      { type: 'ol', start: 3, items: [[text('three')], [text('four')]] },
    ]);
  });

  test('fenced code keeps everything verbatim', () => {
    assert.deepEqual(parse('```js\n<b>**x**</b>\n  y\n```\nafter'), [
      { type: 'pre', lang: 'js', value: '<b>**x**</b>\n  y' },
      p(text('after')),
    ]);
    assert.deepEqual(parse('```\nunclosed'), [{ type: 'pre', lang: '', value: 'unclosed' }]);
  });

  test('line breaks and quotes', () => {
    assert.deepEqual(parse('a\nb'), [p(text('a'), { type: 'br' }, text('b'))]);
    assert.deepEqual(parse('> q'), [{ type: 'quote', children: [p(text('q'))] }]);
  });

  test('markup is plain text', () => {
    const src = '<img src=x onerror=alert(1)><script>alert(1)</script>';
    assert.deepEqual(parse(src), [p(text(src))]);
  });

  test('only http(s) and mailto links', () => {
    assert.deepEqual(parse('[x](javascript:alert(1))'), [p(text('[x](javascript:alert(1))'))]);
    assert.deepEqual(parse('[x](https://a.test/p?q=1)'), [p({
      type: 'link', href: 'https://a.test/p?q=1', children: [text('x')],
    })]);
    assert.deepEqual(parse('see https://a.test/x.'), [p(
      text('see '), { type: 'link', href: 'https://a.test/x', children: [text('https://a.test/x')] }, text('.'),
    )]);
    assert.equal(safeHref('JaVaScRiPt:alert(1)'), null);
    assert.equal(safeHref('data:text/html,hi'), null);
    assert.equal(safeHref('https://ok.test'), 'https://ok.test');
  });

  test('escapes', () => {
    assert.deepEqual(parse('\\*not em\\*'), [p(text('*not em*'))]);
  });

  test('plain-text preview', () => {
    assert.equal(toPlainText('**Hi** `there`\n- a\n- b'), 'Hi there a b');
  });
});
