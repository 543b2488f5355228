/**
 * Real NuNER rows with an empty `output` (about 2% of the dataset) are skipped and counted by
 * default, as upstream's script drops them; `strict` makes them located errors.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { readTrainingFile, describeRoutineSkips } from '../src/training/data';
import { cliInProcess } from './helpers/cli';

let dir: string;
let csv: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gliner-nuner-'));
  csv = path.join(dir, 'nuner.csv');
  fs.writeFileSync(
    csv,
    [
      'input,output',
      `"Kalo Dorvasel joined Tavosel Labs.","['Kalo Dorvasel <> person', 'Tavosel Labs <> organization']"`,
      `"Nothing to see here.",`, // an empty output cell: line 3
      `"Mira lives in Mirenburg.","['Mira <> person', 'Mirenburg <> city']"`,
      `"Another row without output."," "`,
      `"Rivo Labs hired Tomo on 4 May 2021.","['Rivo Labs <> organization', 'Tomo <> person', '4 May 2021 <> date']"`,
    ].join('\n') + '\n',
  );
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

test('empty-output rows are skipped and counted, with the first one located', async () => {
  const r = await readTrainingFile(csv);
  expect(r.examples.map((e) => e.tokens[0])).toEqual(['Kalo', 'Mira', 'Rivo']);
  expect(r.skipped).toBe(0);
  expect(r.routineSkips['empty-output'].count).toBe(2);
  expect(describeRoutineSkips(r.routineSkips)).toBe(`2 rows skipped: 2 with an empty output (first: ${csv} row 1 (line 3): output: is empty)`);
});

test('strict makes an empty output an error naming the file, row and line', async () => {
  await expect(readTrainingFile(csv, { strict: true })).rejects.toThrow(`${csv} row 1 (line 3): output: is empty (--strict: such rows are errors)`);
});

test('gliner-tf train reads the sample by default and reports the skipped rows', async () => {
  const out = path.join(dir, 'run');
  const r = await cliInProcess(['train', '--model', 'fixtures/models/demo', '--data', csv, '--output', out, '--steps', '1', '--eval-every', '0', '--backend', 'wasm']);
  expect(r.stderr).toContain(`training data: 3 examples from ${csv} (nuner, csv), 2 rows skipped: 2 with an empty output`);
  expect(r.code).toBe(0);
  expect(fs.existsSync(path.join(out, 'final', 'model.safetensors'))).toBe(true);

  const strict = await cliInProcess(['train', '--model', 'fixtures/models/demo', '--data', csv, '--output', out, '--steps', '1', '--strict']);
  expect(strict.code).toBe(1);
  expect(strict.stderr).toContain('row 1 (line 3): output: is empty');
});
