import { describe, expect, it } from 'vitest';

import {
  FrequencyMapModel,
  FrequencyMapView,
  conjugate,
  shiftedPosition,
  signedFrequency
} from '../frequency_map';
import { MODULE_NAME, MODULE_VERSION } from '../version';
import { DummyManager, MockComm } from './manager';

const NH = 4;
const NW = 5;
const R = 3;

/** values[fh, fw, k] = 10 * fh + fw + 1 - k / 10 (descending along k); wire format. */
function frequencyValues() {
  const data = new Float32Array(NH * NW * R);
  for (let fh = 0; fh < NH; fh++) {
    for (let fw = 0; fw < NW; fw++) {
      for (let k = 0; k < R; k++) {
        data[(fh * NW + fw) * R + k] = 10 * fh + fw + 1 - k / 10;
      }
    }
  }
  return { dtype: 'float32', shape: [NH, NW, R], buffer: new DataView(data.buffer) };
}

async function makeView(state: Record<string, unknown> = {}) {
  const manager = new DummyManager();
  const comm = new MockComm();
  const model = (await manager.new_model(
    {
      model_name: 'FrequencyMapModel',
      model_module: MODULE_NAME,
      model_module_version: MODULE_VERSION,
      model_id: `fm-${Math.random()}`,
      comm: comm as any
    },
    { layer_name: 'block.conv1', frequency_values: frequencyValues(), ...state }
  )) as FrequencyMapModel;
  const view = (await manager.create_view(model)) as FrequencyMapView;
  document.body.appendChild(view.el);
  return { comm, model, view };
}

function cell(view: FrequencyMapView, fh: number, fw: number): Element {
  return view.el.querySelector(`rect.svdw-fm-cell[data-fh="${fh}"][data-fw="${fw}"]`)!;
}

describe('frequency geometry', () => {
  it('centres frequencies like fftshift', () => {
    // n = 4: DFT indices 0 1 2 3 are drawn as 0 1 -2 -1 at positions 2 3 0 1
    expect([0, 1, 2, 3].map(k => shiftedPosition(k, 4))).toEqual([2, 3, 0, 1]);
    expect([0, 1, 2, 3].map(k => signedFrequency(k, 4))).toEqual([0, 1, -2, -1]);
    expect([0, 1, 2, 3, 4].map(k => signedFrequency(k, 5))).toEqual([0, 1, 2, -2, -1]);
    expect(conjugate([1, 2], [4, 5])).toEqual([3, 3]);
    expect(conjugate([0, 0], [4, 5])).toEqual([0, 0]);
  });
});

describe('FrequencyMapModel', () => {
  it('deserializes frequency_values into a float32 array with its shape', async () => {
    const { model } = await makeView();
    const fv = model.get('frequency_values');
    expect(fv.shape).toEqual([NH, NW, R]);
    expect(fv.data).toBeInstanceOf(Float32Array);
    expect(fv.data[(2 * NW + 3) * R + 1]).toBeCloseTo(23.9);
    expect(model.get('selected_frequency')).toBeNull();
  });
});

describe('FrequencyMapView', () => {
  it('draws N_h * N_w cells with the title, axes and a colour bar', async () => {
    const { view } = await makeView();
    expect(view.el.querySelectorAll('rect.svdw-fm-cell').length).toBe(NH * NW);
    expect(view.el.querySelector('.svdw-fm-title')!.textContent).toBe('block.conv1');
    expect(view.el.querySelector('.svdw-fm-colorbar-fill')).not.toBeNull();
    const ticks = Array.from(view.el.querySelectorAll('.svdw-fm-axes .svdw-fm-ticklabel')).map(
      t => t.textContent
    );
    expect(ticks).toContain('0');
    expect(ticks).toContain('\u22122');
    // (0, 0) is drawn in the middle: position floor(n / 2) on both axes
    const origin = cell(view, 0, 0);
    const first = view.el.querySelector('rect.svdw-fm-cell')!;
    const size = Number(first.getAttribute('width'));
    const x0 = Number(view.el.querySelector('.svdw-fm-frame')!.getAttribute('x'));
    expect(Number(origin.getAttribute('x'))).toBeCloseTo(x0 + 2 * size);
  });

  it('colours by the selected rank and redraws when rank changes', async () => {
    const { model, view } = await makeView();
    const top = cell(view, 3, 4).getAttribute('fill');
    const bottom = cell(view, 0, 0).getAttribute('fill');
    expect(top).toBe('rgb(253, 231, 37)');
    expect(bottom).toBe('rgb(68, 1, 84)');
    model.set('rank', 2);
    expect(view.el.querySelectorAll('rect.svdw-fm-cell').length).toBe(NH * NW);
    expect(view.el.querySelector('.svdw-fm-status')!.textContent).toContain('σ_3');
  });

  it('sends the clicked frequency to the kernel and outlines it and its conjugate', async () => {
    const { comm, model, view } = await makeView();
    cell(view, 1, 2).dispatchEvent(new MouseEvent('click', { bubbles: true }));
    expect(model.get('selected_frequency')).toEqual([1, 2]);
    const update = comm.sent.find(m => m.method === 'update');
    expect(update.state).toEqual({ selected_frequency: [1, 2] });
    const marks = Array.from(view.el.querySelectorAll('rect.svdw-fm-selected'));
    expect(marks.map(m => [m.getAttribute('data-fh'), m.getAttribute('data-fw')])).toEqual([
      ['1', '2'],
      ['3', '3']
    ]);
    expect(marks[1].classList.contains('svdw-fm-conjugate')).toBe(true);
    expect(view.el.querySelector('.svdw-fm-status')!.textContent).toContain('(1, 2)');
    // a second click on the same cell clears the selection
    cell(view, 1, 2).dispatchEvent(new MouseEvent('click', { bubbles: true }));
    expect(model.get('selected_frequency')).toBeNull();
    expect(view.el.querySelectorAll('rect.svdw-fm-selected').length).toBe(0);
  });

  it('follows a selection set by the kernel', async () => {
    const { model, view } = await makeView({ selected_frequency: [0, 0] });
    expect(view.el.querySelectorAll('rect.svdw-fm-selected').length).toBe(1); // self-conjugate
    model.set('selected_frequency', [2, 1]);
    expect(view.el.querySelectorAll('rect.svdw-fm-selected').length).toBe(2);
  });

  it('toggles the log colour scale and syncs it', async () => {
    const { comm, model, view } = await makeView();
    const input = view.el.querySelector('.svdw-fm-log input') as HTMLInputElement;
    expect(input.checked).toBe(false);
    const before = cell(view, 0, 1).getAttribute('fill');
    input.checked = true;
    input.dispatchEvent(new Event('change'));
    expect(model.get('log_scale')).toBe(true);
    expect(comm.sent.find(m => m.method === 'update').state).toEqual({ log_scale: true });
    expect(cell(view, 0, 1).getAttribute('fill')).not.toBe(before);
    expect(view.el.querySelector('.svdw-fm-colorbar')!.textContent).toContain('(log)');
  });

  it('shows the frequency and value on hover', async () => {
    const { view } = await makeView();
    cell(view, 3, 4).dispatchEvent(new MouseEvent('mousemove', { bubbles: true }));
    const tip = view.el.querySelector('.svdw-fm-tooltip') as HTMLDivElement;
    expect(tip.style.display).toBe('block');
    expect(tip.textContent).toContain('(f_h, f_w) = (\u22121, \u22121)');
    expect(tip.textContent).toContain('σ_max = 35.00');
  });
});

describe('an empty FrequencyMap', () => {
  it('draws nothing (no NaN sizes) until a spectrum arrives', async () => {
    const empty = { dtype: 'float32', shape: [0, 0, 0], buffer: new DataView(new ArrayBuffer(0)) };
    const { view } = await makeView({ frequency_values: empty });
    expect(view.grid).toBe(null);
    expect(view.el.querySelectorAll('rect.svdw-fm-cell')).toHaveLength(0);
    const svg = view.el.querySelector('svg')!;
    expect([svg.getAttribute('width'), svg.getAttribute('height')]).toEqual(['0', '0']);
    expect(view.el.querySelector('.svdw-fm-status')!.textContent).toBe('no spectrum');
  });
});
