import { describe, expect, it } from 'vitest';

import {
  brushToIndices,
  describeSelection,
  formatG,
  onHistogram,
  withExamples
} from '../page_controller';

describe('formatG', () => {
  it("writes numbers as Python's format(x, '.4g')", () => {
    // expected strings from Python 3.11: f'{x:.4g}'
    const cases: [number, string][] = [
      [7.766, '7.766'],
      [7.5112, '7.511'],
      [56.97, '56.97'],
      [0.0001234, '0.0001234'],
      [0.00001234, '1.234e-05'],
      [12345.6, '1.235e+04'],
      [1000, '1000'],
      [2.5, '2.5'],
      [0, '0']
    ];
    for (const [x, want] of cases) {
      expect(formatG(x)).toBe(want);
    }
  });
});

describe('brushToIndices', () => {
  it('takes the indices whose rank i + 1 lies in the brushed interval, either way round', () => {
    expect(brushToIndices(2.5, 5.2, 100)).toEqual([2, 3, 4]);
    expect(brushToIndices(5.2, 2.5, 100)).toEqual([2, 3, 4]);
    expect(brushToIndices(-3, 1, 100)).toEqual([0]);
    expect(brushToIndices(98.5, 300, 100)).toEqual([98, 99]);
    expect(brushToIndices(2.2, 2.8, 100)).toEqual([]);
  });
});

describe('describeSelection', () => {
  const values = Float32Array.from([8, 4, 2]);
  it('says nothing is selected', () => {
    expect(describeSelection([], values).status).toContain('nothing selected');
    expect(describeSelection([], values).summary).toBe('');
  });
  it('gives σ and λ of one direction', () => {
    expect(describeSelection([1], values)).toEqual({
      summary: 'selected i = 1, σ = 4',
      status: 'selected i = 1 (σ = 4, λ = 16)'
    });
  });
  it('counts a range', () => {
    expect(describeSelection([0, 1, 2], values).status).toBe('selected 3 indices, i = 0 … 2');
  });
});

describe('onHistogram', () => {
  // edges 1, 2, 4, 8 (three bins) with densities 5, 6, 7, as the ESD's staircase outline
  const x = [1, 2, 2, 4, 4, 8];
  const y = [5, 5, 6, 6, 7, 7];
  it("finds each λ's bin, clips to the last and leaves out what is left of the first", () => {
    expect(onHistogram([0.5, 1, 3, 4, 8, 20], x, y)).toEqual({
      lam: [1, 3, 4, 8, 20],
      density: [5, 6, 7, 7, 7]
    });
  });
});

describe('withExamples', () => {
  const a = new DataView(new Uint8Array([1]).buffer);
  const b = new DataView(new Uint8Array([2]).buffer);
  it("puts each card's dataset examples back from the page's table, by id", () => {
    const state = {
      layer: 'conv',
      items: [
        { index: 0, examples: [], example_ids: [4, 9] },
        { index: 1, examples: [], example_ids: [9] },
        { index: 2, examples: [b], example_ids: [7] }, // carries its own: as it is
        { index: 3, examples: [], example_ids: [5] } // an input the table lacks: as it is
      ]
    };
    const out = withExamples(state, { '4': a, '9': b });
    const items = out.items as any[];
    expect(items[0].examples).toEqual([a, b]);
    expect(items[1].examples).toEqual([b]);
    expect(items[2].examples).toEqual([b]);
    expect(items[3].examples).toEqual([]);
    expect(out.layer).toBe('conv');
    expect((state.items[0] as any).examples).toEqual([]); // the snapshot is left as it was
    expect(withExamples(state, null)).toBe(state);
  });
});
