// Markdown (the contract's text format) to and from Atlassian Document Format (what Jira v3 stores for
// descriptions and comments). The common subset both ways: paragraphs with line breaks, headings, bullet and
// ordered lists (nested), code blocks, quotes, rules; bold, italic, strike, inline code, links. ADF nodes Markdown
// has no syntax for (mentions, emoji, cards, dates, status lozenges, tables) become their closest text.

export interface AdfNode {
  type: string;
  text?: string;
  attrs?: Record<string, unknown>;
  marks?: Array<{ type: string; attrs?: Record<string, unknown> }>;
  content?: AdfNode[];
}

export interface AdfDoc {
  type: 'doc';
  version: 1;
  content: AdfNode[];
}

/** Deeper ADF than this (only a hostile document nests so far) is cut, so recursion stays bounded. */
const MAX_DEPTH = 32;

// ---------------------------------------------------------------------------------------------------------------
// Markdown -> ADF

export function markdownToAdf(markdown: string): AdfDoc {
  const lines = markdown.replace(/\r\n?/g, '\n').split('\n');
  return { type: 'doc', version: 1, content: blocks(lines, 0) };
}

const FENCE = /^\s{0,3}(```+|~~~+)\s*([\w+#.-]*)\s*$/;
const HEADING = /^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$/;
const RULE = /^\s{0,3}([-*_])(\s*\1){2,}\s*$/;
const QUOTE = /^\s{0,3}>\s?(.*)$/;
const ITEM = /^(\s*)([-*+]|(\d{1,9})[.)])\s+(.*)$/;

function blocks(lines: string[], depth: number): AdfNode[] {
  const out: AdfNode[] = [];
  let i = 0;
  while (i < lines.length) {
    const line = lines[i]!;
    if (line.trim() === '') {
      i++;
      continue;
    }
    const fence = FENCE.exec(line);
    if (fence) {
      const close = fence[1]!;
      const body: string[] = [];
      for (i++; i < lines.length && !lines[i]!.trim().startsWith(close); i++) body.push(lines[i]!);
      i++;
      const node: AdfNode = { type: 'codeBlock', content: body.length ? [{ type: 'text', text: body.join('\n') }] : [] };
      if (fence[2]) node.attrs = { language: fence[2] };
      out.push(node);
      continue;
    }
    const heading = HEADING.exec(line);
    if (heading) {
      out.push({ type: 'heading', attrs: { level: heading[1]!.length }, content: inline(heading[2]!) });
      i++;
      continue;
    }
    if (RULE.test(line)) {
      out.push({ type: 'rule' });
      i++;
      continue;
    }
    if (QUOTE.test(line)) {
      const quoted: string[] = [];
      for (; i < lines.length && QUOTE.test(lines[i]!); i++) quoted.push(QUOTE.exec(lines[i]!)![1]!);
      const inner = depth < MAX_DEPTH ? blocks(quoted, depth + 1) : [paragraph(quoted)];
      out.push({ type: 'blockquote', content: inner.length ? inner : [{ type: 'paragraph', content: [] }] });
      continue;
    }
    if (ITEM.test(line)) {
      const [node, next] = list(lines, i, depth);
      out.push(node);
      i = next;
      continue;
    }
    const text: string[] = [];
    for (; i < lines.length && lines[i]!.trim() !== '' && !startsBlock(lines[i]!); i++) text.push(lines[i]!.trim());
    out.push(paragraph(text));
  }
  return out;
}

function startsBlock(line: string): boolean {
  return FENCE.test(line) || HEADING.test(line) || RULE.test(line) || QUOTE.test(line) || ITEM.test(line);
}

/** Lines of one paragraph: a line break between them is kept (a hard break), as Jira users expect. */
function paragraph(lines: string[]): AdfNode {
  const content: AdfNode[] = [];
  lines.forEach((line, n) => {
    if (n > 0) content.push({ type: 'hardBreak' });
    content.push(...inline(line));
  });
  return { type: 'paragraph', content };
}

/** A list starting at `start`: its items, each with the lines indented under it (nested lists included). */
function list(lines: string[], start: number, depth: number): [AdfNode, number] {
  const first = ITEM.exec(lines[start]!)!;
  const indent = first[1]!.length;
  const ordered = first[3] !== undefined;
  const items: AdfNode[] = [];
  let i = start;
  while (i < lines.length) {
    const m = ITEM.exec(lines[i]!);
    if (!m || m[1]!.length !== indent || (m[3] !== undefined) !== ordered) break;
    const body = [m[4]!];
    for (i++; i < lines.length; i++) {
      const line = lines[i]!;
      if (line.trim() === '') {
        // A blank line ends the list unless the next line is still indented under this item.
        const next = lines[i + 1];
        if (next === undefined || next.length - next.trimStart().length <= indent) break;
        body.push('');
        continue;
      }
      const sub = ITEM.exec(line);
      if (sub && sub[1]!.length <= indent) break;
      if (!sub && line.length - line.trimStart().length <= indent && startsBlock(line)) break;
      body.push(line.slice(Math.min(indent + 2, line.length - line.trimStart().length)));
    }
    const content = depth < MAX_DEPTH ? blocks(body, depth + 1) : [paragraph(body)];
    items.push({ type: 'listItem', content: content.length ? content : [{ type: 'paragraph', content: [] }] });
  }
  const node: AdfNode = { type: ordered ? 'orderedList' : 'bulletList', content: items };
  if (ordered && first[3] !== '1') node.attrs = { order: Number(first[3]) };
  return [node, i];
}

type Mark = NonNullable<AdfNode['marks']>[number];

/** Inline Markdown: `code`, **strong**, *em* / _em_, ~~strike~~, [text](url), <url>, backslash escapes. */
export function inline(text: string, marks: Mark[] = [], depth = 0): AdfNode[] {
  const out: AdfNode[] = [];
  let plain = '';
  const flush = () => {
    if (plain !== '') out.push(textNode(plain, marks));
    plain = '';
  };
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (c === '\\' && i + 1 < text.length && /[\\`*_{}[\]()#+\-.!~>|]/.test(text[i + 1]!)) {
      plain += text[i + 1];
      i += 2;
      continue;
    }
    if (c === '`') {
      const run = /^`+/.exec(text.slice(i))![0];
      const end = text.indexOf(run, i + run.length);
      if (end > i) {
        flush();
        out.push(textNode(text.slice(i + run.length, end), [...marks, { type: 'code' }]));
        i = end + run.length;
        continue;
      }
    }
    if (depth < MAX_DEPTH) {
      const span = emphasis(text, i) ?? link(text, i);
      if (span) {
        flush();
        out.push(...inline(span.inner, [...marks, span.mark], depth + 1));
        i = span.end;
        continue;
      }
    }
    plain += c;
    i++;
  }
  flush();
  return out;
}

function textNode(text: string, marks: Mark[]): AdfNode {
  return marks.length ? { type: 'text', text, marks } : { type: 'text', text };
}

/** How far a closing delimiter is looked for, so a text full of unmatched `*` stays linear. */
const MAX_SPAN = 2000;

// Letters and digits; any non-ASCII character counts as one (the component's regex engine has no \p{L}).
const isWord = (c: string | undefined) => c !== undefined && (/[A-Za-z0-9]/.test(c) || c.charCodeAt(0) > 127);

function emphasis(text: string, at: number): { inner: string; mark: Mark; end: number } | undefined {
  for (const [delim, type] of [['**', 'strong'], ['__', 'strong'], ['~~', 'strike'], ['*', 'em'], ['_', 'em']] as const) {
    if (!text.startsWith(delim, at)) continue;
    // `_` inside a word (snake_case) is no emphasis; neither is a delimiter followed by a space.
    if (delim[0] === '_' && isWord(text[at - 1])) continue;
    const from = at + delim.length;
    if (from >= text.length || /\s/.test(text[from]!)) continue;
    let end = text.indexOf(delim, from + 1);
    while (end > 0 && end <= at + MAX_SPAN && (/\s/.test(text[end - 1]!) || (delim[0] === '_' && isWord(text[end + delim.length])) || text[end - 1] === '\\')) {
      end = text.indexOf(delim, end + 1);
    }
    if (end < 0 || end > at + MAX_SPAN) continue;
    return { inner: text.slice(from, end), mark: { type }, end: end + delim.length };
  }
  return undefined;
}

function link(text: string, at: number): { inner: string; mark: Mark; end: number } | undefined {
  if (text[at] === '<') {
    const m = /^<(https?:\/\/[^\s<>]+)>/.exec(text.slice(at));
    if (m) return { inner: m[1]!, mark: { type: 'link', attrs: { href: m[1]! } }, end: at + m[0].length };
  }
  if (text[at] !== '[') return undefined;
  const m = /^\[([^\]]*)\]\(([^)\s]+)\)/.exec(text.slice(at, at + 4096));
  if (!m || !m[1]) return undefined;
  return { inner: m[1], mark: { type: 'link', attrs: { href: m[2]! } }, end: at + m[0].length };
}

// ---------------------------------------------------------------------------------------------------------------
// ADF -> Markdown

/** An ADF document (or a plain string, as some webhook payloads carry) as Markdown; undefined when empty. */
export function adfToMarkdown(value: unknown): string | undefined {
  if (value === null || value === undefined) return undefined;
  if (typeof value === 'string') return value === '' ? undefined : value;
  if (typeof value !== 'object') return undefined;
  const node = value as AdfNode;
  const text = (node.type === 'doc' ? blockList(node.content, 0) : block(node, 0)).replace(/\n{3,}/g, '\n\n').trim();
  return text === '' ? undefined : text;
}

function blockList(nodes: AdfNode[] | undefined, depth: number): string {
  if (!Array.isArray(nodes) || depth > MAX_DEPTH) return '';
  return nodes.map((n) => block(n, depth)).filter((s) => s !== '').join('\n\n');
}

/** A list item's blocks: a nested list follows its paragraph directly (a tight list), other blocks a blank line. */
function itemBody(nodes: AdfNode[] | undefined, depth: number): string {
  if (!Array.isArray(nodes) || depth > MAX_DEPTH) return '';
  let out = '';
  for (const node of nodes) {
    const text = block(node, depth);
    if (text === '') continue;
    const list = node.type === 'bulletList' || node.type === 'orderedList';
    out += out === '' ? text : `${list ? '\n' : '\n\n'}${text}`;
  }
  return out;
}

function block(node: AdfNode, depth: number): string {
  if (typeof node !== 'object' || node === null || depth > MAX_DEPTH) return '';
  switch (node.type) {
    case 'paragraph':
      return inlines(node.content, depth);
    case 'heading': {
      const level = Math.min(6, Math.max(1, Number(node.attrs?.level) || 1));
      return `${'#'.repeat(level)} ${inlines(node.content, depth)}`;
    }
    case 'bulletList':
    case 'orderedList': {
      let n = Number(node.attrs?.order) || 1;
      return (node.content ?? [])
        .map((item) => {
          const marker = node.type === 'bulletList' ? '- ' : `${n++}. `;
          const body = itemBody(item.content, depth + 1).split('\n');
          return marker + body.map((l, k) => (k === 0 || l === '' ? l : ' '.repeat(marker.length) + l)).join('\n');
        })
        .join('\n');
    }
    case 'codeBlock': {
      const code = (node.content ?? []).map((t) => t.text ?? '').join('');
      const fence = code.includes('```') ? '~~~' : '```';
      return `${fence}${typeof node.attrs?.language === 'string' ? node.attrs.language : ''}\n${code}\n${fence}`;
    }
    case 'blockquote':
      return blockList(node.content, depth + 1).split('\n').map((l) => (l === '' ? '>' : `> ${l}`)).join('\n');
    case 'rule':
      return '---';
    case 'table':
      return table(node, depth);
    case 'mediaSingle':
    case 'mediaGroup':
    case 'media':
      return '';
    default:
      // panel, expand, layouts, decision and task lists...: their content, as blocks or as text.
      if (Array.isArray(node.content)) {
        return node.content.some((c) => c.type === 'text' || c.type === 'hardBreak')
          ? inlines(node.content, depth)
          : blockList(node.content, depth + 1);
      }
      return inlineNode(node);
  }
}

function table(node: AdfNode, depth: number): string {
  const rows = (node.content ?? []).map((row) =>
    (row.content ?? []).map((cell) => blockList(cell.content, depth + 1).replace(/\n+/g, ' ').replace(/\|/g, '\\|')),
  );
  if (rows.length === 0) return '';
  const width = Math.max(...rows.map((r) => r.length));
  const line = (cells: string[]) => `| ${Array.from({ length: width }, (_, k) => cells[k] ?? '').join(' | ')} |`;
  return [line(rows[0]!), line(Array(width).fill('---')), ...rows.slice(1).map(line)].join('\n');
}

function inlines(nodes: AdfNode[] | undefined, depth: number): string {
  if (!Array.isArray(nodes)) return '';
  return nodes.map((n) => (n?.type === 'text' || n?.type === 'hardBreak' || !n?.content ? inlineNode(n) : block(n, depth + 1))).join('');
}

function inlineNode(node: AdfNode): string {
  if (typeof node !== 'object' || node === null) return '';
  const attrs = node.attrs ?? {};
  const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
  switch (node.type) {
    case 'text':
      return marked(node.text ?? '', node.marks ?? []);
    case 'hardBreak':
      return '\n';
    case 'mention': {
      const name = str(attrs.text) ?? str(attrs.id) ?? '';
      return name.startsWith('@') ? name : `@${name}`;
    }
    case 'emoji':
      return str(attrs.text) ?? str(attrs.shortName) ?? '';
    case 'inlineCard':
    case 'blockCard':
      return str(attrs.url) ?? '';
    case 'date': {
      const ms = Number(attrs.timestamp);
      return Number.isFinite(ms) ? new Date(ms).toISOString().slice(0, 10) : '';
    }
    case 'status':
      return str(attrs.text) ?? '';
    default:
      return '';
  }
}

function marked(text: string, marks: Mark[]): string {
  const types = new Set(marks.map((m) => m.type));
  if (types.has('code')) {
    const ticks = text.includes('`') ? '``' : '`';
    return ticks === '``' ? `\`\` ${text} \`\`` : `\`${text}\``;
  }
  let out = escape(text);
  if (types.has('strike')) out = `~~${out}~~`;
  if (types.has('em')) out = `*${out}*`;
  if (types.has('strong')) out = `**${out}**`;
  const href = marks.find((m) => m.type === 'link')?.attrs?.href;
  if (typeof href === 'string') out = `[${out}](${href.replace(/[()\s]/g, encodeURIComponent)})`;
  return out;
}

/** Characters that would read as Markdown, escaped: `_` only where it could start or end emphasis. */
function escape(text: string): string {
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (/[\\`*[\]~]/.test(c) || (c === '_' && !(isWord(text[i - 1]) && isWord(text[i + 1])))) out += '\\';
    out += c;
  }
  return out
    .replace(/^(\s*)(#{1,6}\s|>|[-+]\s)/, (_m, space: string, marker: string) => `${space}\\${marker}`)
    .replace(/^(\s*\d+)([.)]\s)/, (_m, digits: string, dot: string) => `${digits}\\${dot}`);
}
