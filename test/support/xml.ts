/**
 * A small XML parser for tests: enough of XML 1.0 to check that a generated document (an SVG
 * chart) is well formed and to walk its elements. It reads character by character and throws
 * on what a conforming parser rejects in such documents: unbalanced or crossed tags, unquoted
 * or repeated attributes, a raw `<` or `&` in text or in a value, unknown entities, text or a
 * second element outside the root. DTDs and CDATA sections are refused, not parsed.
 */

/** An element: its name, attributes (entities decoded), child elements and decoded text. */
export interface XmlElement {
  readonly name: string;
  readonly attributes: Readonly<Record<string, string>>;
  readonly children: readonly XmlElement[];
  /** The element's own character data, children's excluded. */
  readonly text: string;
}

const ENTITIES: Readonly<Record<string, string>> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

function isNameStart(char: string): boolean {
  return (char >= 'a' && char <= 'z') || (char >= 'A' && char <= 'Z') || char === '_' || char === ':';
}

function isNameChar(char: string): boolean {
  return isNameStart(char) || (char >= '0' && char <= '9') || char === '-' || char === '.';
}

function isSpace(char: string | undefined): boolean {
  return char === ' ' || char === '\n' || char === '\t' || char === '\r';
}

/**
 * Parses `source` and returns its root element.
 *
 * @throws Error naming the offset where the document stops being well formed.
 */
export function parseXml(source: string): XmlElement {
  let at = 0;
  const fail = (why: string): never => {
    throw new Error(`not well-formed XML at offset ${at}: ${why}`);
  };
  const startsWith = (text: string): boolean => source.startsWith(text, at);
  const expect = (text: string): void => {
    if (!startsWith(text)) fail(`expected ${JSON.stringify(text)}`);
    at += text.length;
  };
  const skipSpace = (): void => {
    while (isSpace(source[at])) at++;
  };
  const name = (): string => {
    const from = at;
    if (!isNameStart(source[at] ?? '')) fail('expected a name');
    while (isNameChar(source[at] ?? '')) at++;
    return source.slice(from, at);
  };
  /** Character data up to `stop`, with its entity and character references decoded. */
  const characters = (stop: string): string => {
    let text = '';
    while (at < source.length && source[at] !== stop) {
      const char = source[at]!;
      if (char === '<') fail('a raw "<" in character data');
      if (char === '&') {
        const end = source.indexOf(';', at);
        if (end < 0) fail('an entity reference without ";"');
        const entity = source.slice(at + 1, end);
        if (entity.startsWith('#x')) text += String.fromCodePoint(Number.parseInt(entity.slice(2), 16));
        else if (entity.startsWith('#')) text += String.fromCodePoint(Number(entity.slice(1)));
        else if (ENTITIES[entity] !== undefined) text += ENTITIES[entity];
        else fail(`an unknown entity &${entity};`);
        at = end + 1;
      } else {
        text += char;
        at++;
      }
    }
    return text;
  };
  /** Skips comments and processing instructions; returns whether it skipped one. */
  const misc = (): boolean => {
    if (startsWith('<!--')) {
      const end = source.indexOf('-->', at + 4);
      if (end < 0) fail('an unclosed comment');
      at = end + 3;
      return true;
    }
    if (startsWith('<?')) {
      const end = source.indexOf('?>', at + 2);
      if (end < 0) fail('an unclosed processing instruction');
      at = end + 2;
      return true;
    }
    if (startsWith('<!')) fail('DTDs and CDATA sections are not supported');
    return false;
  };
  const element = (): XmlElement => {
    expect('<');
    const tag = name();
    const attributes: Record<string, string> = {};
    for (;;) {
      const spaced = isSpace(source[at]);
      skipSpace();
      if (startsWith('/>')) {
        at += 2;
        return { name: tag, attributes, children: [], text: '' };
      }
      if (startsWith('>')) {
        at++;
        break;
      }
      if (!spaced) fail('attributes must be separated by white space');
      const attribute = name();
      skipSpace();
      expect('=');
      skipSpace();
      const quote = source[at];
      if (quote !== '"' && quote !== "'") fail('an attribute value must be quoted');
      at++;
      if (Object.hasOwn(attributes, attribute)) fail(`attribute ${attribute} repeated`);
      attributes[attribute] = characters(quote!);
      expect(quote!);
    }
    const children: XmlElement[] = [];
    let text = '';
    for (;;) {
      if (at >= source.length) fail(`<${tag}> is not closed`);
      if (startsWith('</')) {
        at += 2;
        const closing = name();
        if (closing !== tag) fail(`</${closing}> closes <${tag}>`);
        skipSpace();
        expect('>');
        return { name: tag, attributes, children, text };
      }
      if (misc()) continue;
      if (startsWith('<')) children.push(element());
      else text += characters('<');
    }
  };

  // Prolog: an optional declaration, comments and white space; then one root; then only misc.
  skipSpace();
  while (misc()) skipSpace();
  const root = element();
  skipSpace();
  while (misc()) skipSpace();
  if (at < source.length) fail('content after the root element');
  return root;
}

/** Every element of the tree under and including `root`, in document order. */
export function allElements(root: XmlElement): XmlElement[] {
  return [root, ...root.children.flatMap(allElements)];
}
