/**
 * The examples in `gliner-tf <command> --help` name files and folders that exist in a checkout.
 */
import * as fs from 'fs';
import * as path from 'path';
import { PREDICT_HELP } from '../tools/predict-command';
import { TRAIN_HELP } from '../tools/train-command';
import { EVAL_HELP } from '../tools/eval-command';
import { ROOT } from './helpers/cli';

test.each([
  ['predict', PREDICT_HELP, ['--model']],
  ['train', TRAIN_HELP, ['--model', '--data', '--eval-data']],
  ['eval', EVAL_HELP, ['--model', '--data']],
])('%s --help: the example paths exist', (_name, help, flags) => {
  const example = help.slice(help.indexOf('Example:'));
  for (const flag of flags) {
    const m = new RegExp(`${flag} (\\S+)`).exec(example);
    expect(m).not.toBeNull();
    expect(fs.existsSync(path.join(ROOT, m![1]))).toBe(true);
  }
});
