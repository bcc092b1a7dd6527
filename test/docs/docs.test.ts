/**
 * The documents stay true to the code: README.md and every docs/*.md are checked for
 *
 * - relative links (and images) that resolve, to files and to `#anchors` (GitHub's heading ids);
 * - every `cretoai-node <command>` shown being a command of the CLI, with the options shown;
 * - every `npm run <script>` (and `npm start`, `npm test`) being a script of package.json;
 * - every TypeScript block type-checking against the package's source, with `cretoai-consensus`
 *   and `cretoai-consensus/client` resolved to `src/index.ts` and `src/client/index.ts` (a block
 *   whose info string says `fragment` is not compiled), and every JSON block parsing;
 * - the reference pages covering what the code has: every alert of deploy/prometheus/alerts.yml
 *   has its section in docs/operations.md, and every route, error code and metric of the node is
 *   in docs/http-api.md.
 *
 * All of it reads files, builds the CLI's command tree in-process and runs one `tsc`: no
 * network, no cluster.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { promisify } from 'node:util';
import { buildProgram } from '../../src/cli/program.ts';
import { API_ERRORS, API_ROUTES } from '../../src/client/api.ts';

const run = promisify(execFile);
const root = path.join(import.meta.dirname, '../..');

/** README.md and the pages of docs/ (not the generated API reference under docs/api/). */
const DOCUMENTS: readonly string[] = [
  'README.md',
  ...fs
    .readdirSync(path.join(root, 'docs'))
    .filter((file) => file.endsWith('.md'))
    .sort()
    .map((file) => `docs/${file}`),
];

interface CodeBlock {
  /** The info string's words: the language first. */
  readonly info: readonly string[];
  readonly body: string;
  /** The line of the opening fence, from 1. */
  readonly line: number;
}

interface Markdown {
  readonly file: string;
  readonly text: string;
  readonly blocks: readonly CodeBlock[];
  /** The text outside fenced blocks, with inline code spans blanked out (same line count). */
  readonly prose: string;
  /** The inline code spans, each with its line. */
  readonly spans: readonly { readonly code: string; readonly line: number }[];
  /** Per line (from 0): whether it is part of a fenced block, fences included. */
  readonly inBlock: readonly boolean[];
}

function parse(file: string): Markdown {
  const text = fs.readFileSync(path.join(root, file), 'utf8');
  const blocks: CodeBlock[] = [];
  const outside: string[] = [];
  const inBlock: boolean[] = [];
  const lines = text.split('\n');
  let fence: { marker: string; info: string[]; line: number; body: string[] } | null = null;
  for (const [i, line] of lines.entries()) {
    const opening = /^ {0,3}(`{3,}|~{3,})(.*)$/.exec(line);
    inBlock.push(fence !== null || opening !== null);
    if (fence === null) {
      if (opening !== null) {
        fence = {
          marker: opening[1]!,
          info: opening[2]!.trim().split(/\s+/).filter(Boolean),
          line: i + 1,
          body: [],
        };
        outside.push('');
      } else outside.push(line);
      continue;
    }
    if (line.trim().startsWith(fence.marker) && line.trim().replaceAll(fence.marker[0]!, '') === '') {
      blocks.push({ info: fence.info, body: `${fence.body.join('\n')}\n`, line: fence.line });
      fence = null;
    } else fence.body.push(line);
    outside.push('');
  }
  assert.equal(fence, null, `${file}: a code block opened at line ${fence?.line} is never closed`);
  const spans: { code: string; line: number }[] = [];
  const prose = outside
    .map((line, i) =>
      line.replace(/(`+)(.+?)\1/g, (_match, ticks: string, code: string) => {
        spans.push({ code: code.trim(), line: i + 1 });
        return ' '.repeat(ticks.length * 2 + code.length);
      }),
    )
    .join('\n');
  return { file, text, blocks, prose, spans, inBlock };
}

const documents = DOCUMENTS.map(parse);

/** GitHub's id of a heading: its text lowercased, punctuation dropped, spaces made hyphens. */
function headingId(heading: string): string {
  return heading
    .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
    .replace(/`/g, '')
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

const anchorCache = new Map<string, Set<string>>();
/** The ids of a Markdown file's headings (outside code blocks); a repeated id gets -1, -2, ... */
function anchorsOfFile(file: string): Set<string> {
  let anchors = anchorCache.get(file);
  if (anchors === undefined) {
    anchors = new Set<string>();
    const counts = new Map<string, number>();
    const markdown = parse(path.relative(root, file));
    for (const [i, line] of markdown.text.split('\n').entries()) {
      const heading = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
      if (heading === null || markdown.inBlock[i]) continue;
      const id = headingId(heading[1]!);
      const seen = counts.get(id) ?? 0;
      counts.set(id, seen + 1);
      anchors.add(seen === 0 ? id : `${id}-${seen}`);
    }
    anchorCache.set(file, anchors);
  }
  return anchors;
}

describe('documents', () => {
  test('README.md stays a first page: under 12 KB', () => {
    assert.ok(fs.statSync(path.join(root, 'README.md')).size < 12 * 1024);
  });

  test('relative links and images resolve, to files and to #anchors', () => {
    const broken: string[] = [];
    for (const markdown of documents) {
      const lines = markdown.prose.split('\n');
      for (const [i, line] of lines.entries()) {
        for (const match of line.matchAll(/!?\[[^\]]*\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) {
          const target = match[1]!;
          if (/^[a-z][a-z+.-]*:/i.test(target)) continue; // https:, mailto: ...
          const [pathPart, anchor] = target.split('#') as [string, string | undefined];
          const resolved =
            pathPart === ''
              ? path.join(root, markdown.file)
              : path.resolve(path.dirname(path.join(root, markdown.file)), decodeURIComponent(pathPart));
          const where = `${markdown.file}:${i + 1}: ${target}`;
          if (!fs.existsSync(resolved)) {
            broken.push(`${where} (no such file)`);
            continue;
          }
          if (anchor !== undefined && resolved.endsWith('.md') && !anchorsOfFile(resolved).has(anchor)) {
            broken.push(`${where} (no heading with that id)`);
          }
        }
      }
    }
    assert.deepEqual(broken, []);
  });

  test('every `cretoai-node <command>` shown exists, with the options shown', () => {
    // The program as `cretoai-node` builds it: its commands and each one's options.
    const program = buildProgram({ out: () => {}, err: () => {} });
    // A command with subcommands (`validators sign`) is named with its subcommand.
    const longOptions = (command: (typeof program.commands)[number]): Set<string> =>
      new Set(command.options.flatMap((option) => (option.long === undefined ? [] : [option.long])));
    const optionsOf = new Map<string, Set<string>>(
      program.commands.flatMap((command) => [
        [command.name(), longOptions(command)] as const,
        ...command.commands.map((sub) => [`${command.name()} ${sub.name()}`, longOptions(sub)] as const),
      ]),
    );
    const withSubcommands = new Set(
      program.commands.filter((command) => command.commands.length > 0).map((command) => command.name()),
    );
    assert.ok(optionsOf.has('start') && optionsOf.has('up'), [...optionsOf.keys()].join(' '));
    const wrong: string[] = [];
    let seen = 0;
    for (const markdown of documents) {
      const pieces = [
        ...markdown.blocks.flatMap((block) =>
          block.body.split('\n').map((text, i) => ({ text, line: block.line + 1 + i })),
        ),
        ...markdown.spans.map((span) => ({ text: span.code, line: span.line })),
      ];
      for (const piece of pieces) {
        for (const match of piece.text.matchAll(
          /(?:^|[\s(])cretoai-node ([a-z][a-z-]*)( [a-z][a-z-]*)?([^#\n]*)/g,
        )) {
          seen++;
          const [, name, word, tail] = match as unknown as [string, string, string | undefined, string];
          // `word` is the subcommand of a command that has them, else the start of the rest.
          const sub = withSubcommands.has(name) && word !== undefined;
          const command = sub ? `${name}${word}` : name;
          const rest = sub ? tail : `${word ?? ''}${tail}`;
          const where = `${markdown.file}:${piece.line}: cretoai-node ${command}`;
          const options = optionsOf.get(command);
          if (options === undefined) {
            wrong.push(`${where}: no such command`);
            continue;
          }
          for (const option of rest.matchAll(/(?:^|[\s[|])(--[a-z][a-z-]*)/g)) {
            const name = option[1]!;
            if (name !== '--help' && !options.has(name)) wrong.push(`${where}: no option ${name}`);
          }
        }
      }
    }
    assert.ok(seen > 20, `found only ${seen} commands`);
    assert.deepEqual(wrong, []);
  });

  test('every `npm run <script>` shown is a script of package.json', () => {
    const scripts = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')).scripts as Record<
      string,
      string
    >;
    const missing: string[] = [];
    for (const markdown of documents) {
      for (const [i, line] of markdown.text.split('\n').entries()) {
        for (const match of line.matchAll(/\bnpm (?:run ([a-z][a-z0-9:-]*)|(start|test)\b)/g)) {
          const script = match[1] ?? match[2]!;
          if (!(script in scripts)) missing.push(`${markdown.file}:${i + 1}: npm run ${script}`);
        }
      }
    }
    assert.deepEqual(missing, []);
  });

  test('every JSON block parses', () => {
    for (const markdown of documents) {
      for (const block of markdown.blocks.filter((each) => each.info[0] === 'json')) {
        assert.doesNotThrow(() => JSON.parse(block.body), `${markdown.file}:${block.line}`);
      }
    }
  });

  test('every TypeScript block type-checks against the source', { timeout: 120_000 }, async (t) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cretoai-doc-blocks-'));
    t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
    const origins = new Map<string, string>();
    for (const markdown of documents) {
      for (const block of markdown.blocks) {
        if (!['ts', 'typescript'].includes(block.info[0] ?? '') || block.info.includes('fragment')) continue;
        const name = `${markdown.file.replace(/[/.]/g, '_')}_line${block.line}.ts`;
        // `export {}` makes every block a module, so that top-level await and its own names are allowed.
        fs.writeFileSync(path.join(dir, name), `${block.body}export {};\n`);
        origins.set(name, `${markdown.file}, the block at line ${block.line}`);
      }
    }
    assert.ok(origins.size >= 3, `found only ${origins.size} TypeScript blocks`);
    fs.writeFileSync(
      path.join(dir, 'tsconfig.json'),
      JSON.stringify({
        extends: path.join(root, 'tsconfig.json'),
        compilerOptions: {
          noEmit: true,
          typeRoots: [path.join(root, 'node_modules/@types')],
          paths: {
            'cretoai-consensus': [path.join(root, 'src/index.ts')],
            'cretoai-consensus/client': [path.join(root, 'src/client/index.ts')],
          },
        },
        files: [...origins.keys()],
      }),
    );
    // ES modules, as the package is: top-level await and import statements as an application writes them.
    fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ type: 'module' }));
    const tsc = path.join(root, 'node_modules/.bin/tsc');
    const result = await run(tsc, ['-p', path.join(dir, 'tsconfig.json'), '--pretty', 'false']).then(
      () => '',
      (error: { stdout?: string; stderr?: string; message: string }) =>
        `${error.stdout ?? ''}${error.stderr ?? ''}` || error.message,
    );
    const explained = result.replace(/^(\S+?\.ts)\((\d+),\d+\)/gm, (whole, file: string, line: string) => {
      const origin = origins.get(path.basename(file));
      return origin === undefined ? whole : `${origin}, its line ${line}`;
    });
    assert.equal(explained, '', explained);
  });
});

describe('reference pages cover what the code has', () => {
  const operations = documents.find((markdown) => markdown.file === 'docs/operations.md')!;
  const httpApi = documents.find((markdown) => markdown.file === 'docs/http-api.md')!;

  test('docs/operations.md has a section for every alert of deploy/prometheus/alerts.yml', () => {
    const rules = fs.readFileSync(path.join(root, 'deploy/prometheus/alerts.yml'), 'utf8');
    const alerts = [...rules.matchAll(/^\s*- alert: (\S+)/gm)].map((match) => match[1]!);
    assert.ok(alerts.length >= 5);
    const headings = new Set([...operations.text.matchAll(/^### (\S+)$/gm)].map((match) => match[1]!));
    assert.deepEqual(
      alerts.filter((alert) => !headings.has(alert)),
      [],
    );
  });

  test('docs/http-api.md names every route and every error code', () => {
    const missing = [
      ...Object.values(API_ROUTES).filter((route) => route !== '/' && !httpApi.text.includes(`${route}`)),
      ...Object.keys(API_ERRORS).filter((code) => !httpApi.text.includes(`\`${code}\``)),
    ];
    assert.deepEqual(missing, []);
    for (const [code, status] of Object.entries(API_ERRORS)) {
      assert.match(httpApi.text, new RegExp(`\\| \`${code}\` +\\| ${status} `), `the table row of ${code}`);
    }
  });

  test('docs/http-api.md names every metric a node exports', () => {
    const names = new Set<string>();
    const walk = (dir: string): void => {
      for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
        const file = path.join(dir, entry.name);
        if (entry.isDirectory()) walk(file);
        else if (entry.name.endsWith('.ts')) {
          for (const match of fs
            .readFileSync(file, 'utf8')
            .matchAll(/name: '((?:consensus|cretoai)_[a-z_]+)'/g))
            names.add(match[1]!);
        }
      }
    };
    walk(path.join(root, 'src'));
    assert.ok(names.size > 20);
    assert.deepEqual(
      [...names].filter((name) => !httpApi.text.includes(`\`${name}`)),
      [],
    );
  });
});
