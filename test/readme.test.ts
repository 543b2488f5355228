/**
 * The README's code runs as written: every TypeScript block is executed (imports of 'gliner-tf'
 * point at this checkout; the Trainer block's step count is cut to keep the test short), and the
 * cheap shell commands (local model folders, no network) are run through the CLI, with their
 * output compared with the block after "which prints".
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { ROOT, runCli, runTs } from './helpers/cli';
import { syntheticNer } from './helpers/synthetic-ner';

const README = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');

interface Block {
  lang: string;
  body: string;
  /** The text between the previous block and this one. */
  before: string;
}

function codeBlocks(md: string): Block[] {
  const out: Block[] = [];
  const re = /^```(\w*)\n([\s\S]*?)^```\n/gm;
  let last = 0;
  for (let m = re.exec(md); m; m = re.exec(md)) {
    out.push({ lang: m[1], body: m[2], before: md.slice(last, m.index) });
    last = m.index + m[0].length;
  }
  return out;
}

const blocks = codeBlocks(README);
const tsBlocks = blocks.filter((b) => b.lang === 'ts');

let work: string;
beforeAll(() => {
  // a user's folder: the repository's fixtures and a small training file
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'gliner-readme-'));
  fs.symlinkSync(path.join(ROOT, 'fixtures'), path.join(work, 'fixtures'));
  fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(work, 'node_modules'));
  fs.writeFileSync(path.join(work, 'train.json'), JSON.stringify(syntheticNer(16, 'train', 5)));
});
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

test('the README has the API and Trainer blocks', () => {
  expect(tsBlocks.length).toBeGreaterThanOrEqual(2);
  expect(tsBlocks.some((b) => b.body.includes('new Trainer('))).toBe(true);
});

test.each(tsBlocks.map((b, i) => [i, b.body.split('\n')[0]]))('TypeScript block %i (%s) runs', (i) => {
  const body = tsBlocks[i as number].body;
  const imports = body.split('\n').filter((l) => /^import .* from '/.test(l));
  const rest = body.split('\n').filter((l) => !/^import .* from '/.test(l));
  const src = [
    ...imports.map((l) => l.replace(/from 'gliner-tf'/, `from ${JSON.stringify(path.join(ROOT, 'src', 'index'))}`)),
    '(async () => {',
    ...rest.map((l) => l.replace(/numSteps: \d+/, 'numSteps: 2')),
    '})().catch((e) => { console.error(e); process.exit(1); });',
  ].join('\n');
  const file = path.join(work, `block-${i}.ts`);
  fs.writeFileSync(file, src);
  const r = runTs([file], { cwd: work, env: { TS_NODE_PROJECT: path.join(ROOT, 'tsconfig.json') } });
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  if (body.includes('new Trainer(')) {
    expect(fs.existsSync(path.join(work, 'runs', 'my-model', 'final', 'model.safetensors'))).toBe(true);
  } else {
    expect(r.stdout).toContain("text: 'Kalo Dorvasel'");
  }
});

/** `npx gliner-tf ...` lines that need neither the network nor files the user would bring. */
function cheapCommands(): { argv: string[]; prints?: string }[] {
  const out: { argv: string[]; prints?: string }[] = [];
  blocks.forEach((b, k) => {
    if (b.lang !== 'bash') return;
    for (const line of b.body.split('\n')) {
      const m = /npx gliner-tf (.*)$/.exec(line);
      if (!m || m[1].endsWith('\\')) continue;
      const argv = [...m[1].matchAll(/"([^"]*)"|(\S+)/g)].map((x) => x[1] ?? x[2]);
      const model = argv[argv.indexOf('--model') + 1];
      if (!model || !fs.existsSync(path.join(ROOT, model))) continue;
      const next = blocks[k + 1];
      out.push({ argv, prints: next && /which prints\s*$/.test(next.before) ? next.body : undefined });
    }
  });
  return out;
}

test('the cheap README commands print what the README says, and nothing on stderr', () => {
  const cmds = cheapCommands();
  expect(cmds.length).toBeGreaterThanOrEqual(1);
  for (const { argv, prints } of cmds) {
    const r = runCli(argv);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    if (prints !== undefined) expect(JSON.parse(r.stdout)).toEqual(JSON.parse(prints));
  }
});
