import { describe, expect, it } from 'vitest';

import { viridis } from '../colormap';
import { colorScale, formatSigned, formatValue, niceTicks } from '../scale';

describe('colour scale', () => {
  it('maps [min, max] to [0, 1] linearly', () => {
    const s = colorScale([2, 4, 6], false);
    expect([s.normalize(2), s.normalize(4), s.normalize(6)]).toEqual([0, 0.5, 1]);
  });

  it('maps decades evenly on a log scale and sends zeros to the bottom', () => {
    const s = colorScale([0, 0.1, 1, 10], true);
    expect(s.lo).toBe(0.1);
    expect(s.normalize(1)).toBeCloseTo(0.5);
    expect(s.normalize(0)).toBe(0);
    expect(s.ticks(5)).toEqual([0.1, 1, 10]);
  });

  it('has round ticks and short labels', () => {
    expect(niceTicks(0.13, 0.97, 4)).toEqual([0.2, 0.4, 0.6, 0.8]);
    expect(formatValue(1.23456)).toBe('1.23');
    expect(formatValue(123456)).toBe('1.2e5');
    expect(formatSigned(-3)).toBe('\u22123');
  });

  it('uses viridis from dark purple to yellow', () => {
    expect(viridis(0)).toBe('rgb(68, 1, 84)');
    expect(viridis(1)).toBe('rgb(253, 231, 37)');
    expect(viridis(NaN)).toBe(viridis(0));
  });
});
