/**
 * The README's offline command runs on fixtures/models/demo; this keeps what it says true.
 */
import { GLiNER } from '../src/gliner';

test('the shipped demo model finds the README example entities', async () => {
  const model = await GLiNER.fromPretrained('fixtures/models/demo', { backend: 'wasm' });
  try {
    const text = 'Kalo Dorvasel joined Tavosel Labs in Mirenburg on 4 May 2021.';
    const entities = await model.predictEntities(text, ['person', 'organization', 'city', 'date']);
    expect(entities.map((e) => [e.text, e.label])).toEqual([
      ['Kalo Dorvasel', 'person'],
      ['Tavosel Labs', 'organization'],
      ['Mirenburg', 'city'],
      ['4 May 2021', 'date'],
    ]);
    for (const e of entities) expect(e.score).toBeGreaterThan(0.9);
  } finally {
    model.dispose();
  }
});
