/**
 * Typos on the command line get a suggestion: unknown commands and unknown flags.
 */
import { cliInProcess } from './helpers/cli';

test('an unknown command suggests the closest one', async () => {
  const r = await cliInProcess(['predcit', '--text', 'x']);
  expect(r.code).toBe(2);
  expect(r.stderr).toMatch(/^gliner-tf: unknown command 'predcit' \(did you mean 'predict'\?\)/);
  expect(r.stdout).toBe('');
});

test('a command nothing resembles gets the command list without a guess', async () => {
  const r = await cliInProcess(['frobnicate']);
  expect(r.code).toBe(2);
  expect(r.stderr).toMatch(/^gliner-tf: unknown command 'frobnicate'\n/);
  expect(r.stderr).toContain('Commands:');
});

test.each([
  [['predict', '--model', 'fixtures/models/demo', '--label', 'person', '--text', 'x'], 'predict', '--label', '--labels'],
  [['train', '--data', 'x.json', '--batchsize', '4'], 'train', '--batchsize', '--batch-size'],
  [['eval', '--modle', 'x'], 'eval', '--modle', '--model'],
  [['info', '--jsn'], 'info', '--jsn', '--json'],
])('%j: an unknown flag suggests the closest known one', async (argv, command, bad, hint) => {
  const r = await cliInProcess(argv);
  expect(r.code).toBe(2);
  expect(r.stderr).toContain(`gliner-tf ${command}: unknown option '${bad}' (did you mean '${hint}'?)`);
  expect(r.stdout).toBe('');
});

test('an unknown flag nothing resembles is named without a guess', async () => {
  const r = await cliInProcess(['eval', '--zzzzzzzz']);
  expect(r.code).toBe(2);
  expect(r.stderr).toMatch(/gliner-tf eval: unknown option '--zzzzzzzz'\n/);
});
