import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';

const root = path.resolve(import.meta.dirname, '../../src');

/** Every .ts file under `dir`. */
function sources(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return sources(full);
    return entry.name.endsWith('.ts') ? [full] : [];
  });
}

/**
 * The modules each file imports at run time. `import type` and `export type` are left out:
 * they vanish when the code runs, so they cannot make modules see each other half-initialised.
 */
function runtimeImports(file: string, text: string): string[] {
  const imports: string[] = [];
  for (const match of text.matchAll(/^(?:import|export)\s+(type\s+)?[^;]*?\bfrom\s+'(\.[^']+)'/gms)) {
    if (match[1] === undefined) imports.push(path.resolve(path.dirname(file), match[2]!));
  }
  return imports;
}

/** The cycles of the graph, each as the path that closes it. */
function findCycles(graph: ReadonlyMap<string, readonly string[]>): string[][] {
  const cycles: string[][] = [];
  const done = new Set<string>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const visit = (file: string): void => {
    stack.push(file);
    onStack.add(file);
    for (const next of graph.get(file) ?? []) {
      if (onStack.has(next)) cycles.push([...stack.slice(stack.indexOf(next)), next]);
      else if (!done.has(next) && graph.has(next)) visit(next);
    }
    stack.pop();
    onStack.delete(file);
    done.add(file);
  };
  for (const file of graph.keys()) if (!done.has(file)) visit(file);
  return cycles;
}

test('the cycle finder finds a cycle through type-free imports and ignores type-only ones', () => {
  const a = path.join(root, 'a.ts');
  const b = path.join(root, 'b.ts');
  assert.deepEqual(runtimeImports(a, "import type { B } from './b.ts';\n"), []);
  assert.deepEqual(runtimeImports(a, "import { b, type B } from './b.ts';\n"), [b]);
  assert.deepEqual(
    findCycles(
      new Map([
        [a, [b]],
        [b, [a]],
      ]),
    ),
    [[a, b, a]],
  );
  assert.deepEqual(
    findCycles(
      new Map([
        [a, [b]],
        [b, []],
      ]),
    ),
    [],
  );
});

test('no module of src/ imports itself through others at run time', () => {
  const graph = new Map<string, string[]>();
  for (const file of sources(root)) graph.set(file, runtimeImports(file, fs.readFileSync(file, 'utf8')));
  assert.ok(graph.size > 100, `read ${graph.size} modules`);
  const cycles = findCycles(graph).map((cycle) =>
    cycle.map((file) => path.relative(root, file)).join(' -> '),
  );
  assert.deepEqual(cycles, []);
});
