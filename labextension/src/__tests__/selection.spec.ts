import { WidgetModel } from '@jupyter-widgets/base';
import { describe, expect, it } from 'vitest';

import { FrequencyMapView } from '../frequency_map';
import { HypergraphView } from '../hypergraph_view';
import { SpectrumLinkModel, normalizeIndices, selectedIn } from '../selection';
import { VectorGalleryView, cardHas, formatNumber } from '../vector_gallery';
import { MODULE_NAME, MODULE_VERSION } from '../version';
import { DummyManager, MockComm } from './manager';

function wire(dtype: string, shape: number[], values: number[]) {
  const data = dtype === 'int32' ? new Int32Array(values) : new Float32Array(values);
  return { dtype, shape, buffer: new DataView(data.buffer) };
}

async function model(
  manager: DummyManager,
  name: string,
  state: Record<string, unknown>,
  module = MODULE_NAME
): Promise<WidgetModel> {
  return manager.new_model(
    {
      model_name: name,
      model_module: module,
      model_module_version: module === MODULE_NAME ? MODULE_VERSION : '2.0.0',
      model_id: `${name}-${Math.random()}`,
      comm: new MockComm() as any
    },
    state
  );
}

const ref = (m: WidgetModel) => `IPY_MODEL_${m.model_id}`;
const click = (e: Element, init: MouseEventInit = {}) =>
  e.dispatchEvent(new MouseEvent('click', { bubbles: true, ...init }));

describe('the shared selection', () => {
  it('keeps sorted distinct non-negative integers', () => {
    expect(normalizeIndices([5, 2, 5, -1, 1.5, 0])).toEqual([0, 2, 5]);
  });

  it('answers only for its own layer', async () => {
    const manager = new DummyManager();
    const sel = await model(manager, 'SelectionModel', { layer: 'a', indices: [3] });
    expect(selectedIn(sel, 'a')).toEqual([3]);
    expect(selectedIn(sel, 'b')).toEqual([]);
    expect(selectedIn(null, 'a')).toEqual([]);
  });
});

describe('SpectrumLink: a bqplot scatter of singular values', () => {
  async function link() {
    const manager = new DummyManager();
    const sel = await model(manager, 'SelectionModel', { layer: 'conv', indices: [] });
    // a stand-in for bqplot's Scatter model: the link reads and writes only `selected`
    const scatter = await model(manager, 'WidgetModel', { selected: null }, '@jupyter-widgets/base');
    const lnk = (await model(manager, 'SpectrumLinkModel', {
      scatter: ref(scatter),
      selection: ref(sel),
      layer: 'conv',
      indices: wire('int32', [5], [0, 1, 2, 10, 20])
    })) as SpectrumLinkModel;
    return { sel, scatter, lnk };
  }

  it('turns a clicked point into its singular index', async () => {
    const { sel, scatter } = await link();
    scatter.set('selected', new Uint32Array([3]), { updated_view: {} });
    expect(sel.get('indices')).toEqual([10]);
    expect(sel.get('layer')).toBe('conv');
    scatter.set('selected', null);
    expect(sel.get('indices')).toEqual([]);
  });

  it('marks the points of a selection made elsewhere, without writing it back', async () => {
    const { sel, scatter } = await link();
    let writes = 0;
    sel.on('change:indices', () => writes++);
    sel.set({ layer: 'conv', indices: [2, 20, 99] });
    expect(Array.from(scatter.get('selected'))).toEqual([2, 4]);
    expect(writes).toBe(1); // only our own set: the link did not echo
    sel.set({ layer: 'other', indices: [2] });
    expect(scatter.get('selected')).toBe(null);
  });

  it('follows a redrawn curve', async () => {
    const { sel, scatter, lnk } = await link();
    sel.set({ layer: 'conv', indices: [7] });
    expect(scatter.get('selected')).toBe(null);
    lnk.set('indices', { dtype: 'int32', shape: [2], data: new Int32Array([7, 8]) });
    expect(Array.from(scatter.get('selected'))).toEqual([0]);
  });
});

const PNG = new DataView(new Uint8Array([137, 80, 78, 71]).buffer);
const XSS = '<img src=x onerror=alert(1)>';

function card(index: number, extra: Record<string, unknown> = {}) {
  return {
    layer: 'conv',
    index,
    aliases: [],
    sigma: 2.5 - index / 10,
    label: 'frequency (0, 1)',
    image: PNG,
    before: 0.1,
    after: 1.25,
    state: 'done',
    examples: [PNG, PNG],
    example_ids: [4, 9],
    example_labels: [XSS, 'seven'],
    example_scores: [3, 2],
    message: '',
    ...extra
  };
}

async function gallery(items: unknown[]) {
  const manager = new DummyManager();
  const sel = await model(manager, 'SelectionModel', { layer: 'conv', indices: [] });
  const m = await model(manager, 'VectorGalleryModel', {
    layer: 'conv',
    items,
    selection: ref(sel),
    image_px: 60
  });
  const view = (await manager.create_view(m)) as VectorGalleryView;
  document.body.appendChild(view.el);
  return { sel, m, view };
}

describe('VectorGallery', () => {
  it('draws one card per direction with its image, σ and examples, names as text', async () => {
    const { view } = await gallery([card(0), card(1, { aliases: [2] })]);
    const cards = view.el.querySelectorAll('.svdw-gl-card');
    expect(cards).toHaveLength(2);
    expect(cards[1].querySelector('.svdw-gl-head')!.textContent).toBe('i = 1 (= 2) · σ = 2.4');
    expect(cards[0].querySelectorAll('img.svdw-gl-image')).toHaveLength(1);
    expect(cards[0].querySelectorAll('img.svdw-gl-example')).toHaveLength(2);
    const tip = cards[0].querySelector('img.svdw-gl-example')!.getAttribute('title')!;
    expect(tip).toContain(XSS); // an attribute value, never markup
    expect(view.el.querySelectorAll('img[src="x"]')).toHaveLength(0);
  });

  it('shows a pending or failed card with its state', async () => {
    const { view } = await gallery([
      card(0, { image: null, state: 'pending' }),
      card(1, { image: null, state: 'error', message: 'boom' })
    ]);
    const notes = Array.from(view.el.querySelectorAll('.svdw-gl-note')).map(n => n.textContent);
    expect(notes).toEqual(['waiting to render', 'boom']);
  });

  it('selects a card on click and marks the card of a selection made elsewhere', async () => {
    const { sel, view } = await gallery([card(0), card(1, { aliases: [2] })]);
    const cards = () => Array.from(view.el.querySelectorAll('.svdw-gl-card'));
    click(cards()[0]);
    expect(sel.get('indices')).toEqual([0]);
    expect(cards()[0].classList.contains('svdw-gl-selected')).toBe(true);
    click(cards()[1], { shiftKey: true });
    expect(sel.get('indices')).toEqual([0, 1]);
    sel.set({ layer: 'conv', indices: [2] }); // the twin of card 1
    expect(cards().map(c => c.classList.contains('svdw-gl-selected'))).toEqual([false, true]);
    sel.set({ layer: 'other', indices: [0] });
    expect(view.el.querySelectorAll('.svdw-gl-selected')).toHaveLength(0);
  });

  it('a card message redraws that card alone and is never sent back', async () => {
    const { m, view } = await gallery([
      card(0, { image: null, state: 'rendering' }),
      card(1, { image: null, state: 'pending' })
    ]);
    const before = Array.from(view.el.querySelectorAll('.svdw-gl-card'));
    const png = new Uint8Array([137, 80, 78, 71, 1, 2]);
    const done = { ...card(0), image: null, examples: [] };
    await (m as any)._handle_comm_msg({
      content: {
        data: {
          method: 'custom',
          content: { event: 'card', position: 0, card: done, buffer_paths: [['card', 'image']] }
        }
      },
      buffers: [new DataView(png.buffer)]
    });
    const after = Array.from(view.el.querySelectorAll('.svdw-gl-card'));
    expect(after[1]).toBe(before[1]); // the other card's element is untouched
    expect(after[0]).not.toBe(before[0]);
    expect(after[0].querySelectorAll('img.svdw-gl-image')).toHaveLength(1);
    expect(after[0].querySelector('.svdw-gl-note')).toBeNull();
    const item = m.get('items')[0];
    expect(item.state).toBe('done');
    expect(new Uint8Array(item.image.buffer, item.image.byteOffset, item.image.byteLength)).toEqual(
      png
    );
    expect(m.get('items')[1].state).toBe('pending');
    expect((m as any)._buffered_state_diff?.items).toBeUndefined(); // nothing to echo back
    expect((m.comm as any).sent).toHaveLength(0);
  });

  it('scrolls the selected card into view once per selection', async () => {
    const scrolled: string[] = [];
    const saved = (Element.prototype as any).scrollIntoView;
    (Element.prototype as any).scrollIntoView = function (this: HTMLElement) {
      scrolled.push(this.dataset.index ?? '');
    };
    try {
      const { sel, m } = await gallery([card(0), card(1), card(2)]);
      sel.set({ layer: 'conv', indices: [2] });
      expect(scrolled).toEqual(['2']);
      m.set('image_px', 70); // a redraw with the same selection does not scroll again
      expect(scrolled).toEqual(['2']);
      sel.set({ layer: 'conv', indices: [5] }); // its card is not there yet: nothing to show
      m.set('items', [card(0), card(1), card(2), card(5)]); // the kernel added it
      expect(scrolled).toEqual(['2', '5']);
    } finally {
      (Element.prototype as any).scrollIntoView = saved;
    }
  });

  it('knows which card stands for an index', () => {
    const c = card(1, { aliases: [2] }) as any;
    expect([0, 1, 2].map(i => cardHas(c, 'conv', i))).toEqual([false, true, true]);
    expect(cardHas(c, 'other', 1)).toBe(false);
    expect(formatNumber(null)).toBe('–');
    expect(formatNumber(1.234567)).toBe('1.235');
  });
});

describe('FrequencyMap and HypergraphView on a shared selection', () => {
  it('a frequency click selects its direction and twin; a selection outlines its frequency', async () => {
    const manager = new DummyManager();
    const sel = await model(manager, 'SelectionModel', { layer: 'conv', indices: [] });
    // the half plane of a 2x3 grid (columns f_w = 0, 1), one value each; its 6 values in order:
    // 6 at (0, 0); 5, 5 at (0, 1) and its conjugate; 4 at (1, 0) (self-conjugate); 3, 3 at (1, 1)
    const m = await model(manager, 'FrequencyMapModel', {
      layer_name: 'conv',
      frequency_values: { ...wire('float32', [2, 2, 1], [6, 5, 4, 3]), width: 3 },
      selection: ref(sel),
      n_values: 6
    });
    const view = (await manager.create_view(m)) as FrequencyMapView;
    document.body.appendChild(view.el);
    click(view.el.querySelector('rect.svdw-fm-cell[data-fh="0"][data-fw="2"]')!);
    expect(sel.get('indices')).toEqual([1, 2]); // (0, 2) is (0, 1)'s conjugate: the pair
    click(view.el.querySelector('rect.svdw-fm-cell[data-fh="1"][data-fw="0"]')!);
    expect(sel.get('indices')).toEqual([3]); // self-conjugate: one real vector
    sel.set({ layer: 'conv', indices: [4] });
    const outlined = view.el.querySelector('.svdw-fm-selection-layer .svdw-fm-selected')!;
    expect([outlined.getAttribute('data-fh'), outlined.getAttribute('data-fw')]).toEqual([
      '1',
      '1'
    ]);
    sel.set({ layer: 'conv', indices: [100] }); // beyond the layer's values: no outline
    expect(view.el.querySelectorAll('.svdw-fm-selection-layer .svdw-fm-selected')).toHaveLength(0);
  });

  it('a node click selects its direction; a selection selects its nodes', async () => {
    const manager = new DummyManager();
    const sel = await model(manager, 'SelectionModel', { layer: '', indices: [] });
    const m = await model(manager, 'HypergraphModel', {
      class_names: ['a', 'b'],
      class_counts: wire('int32', [2], [5, 5]),
      layer_names: ['l0', 'l1'],
      node_layers: wire('int32', [3], [0, 0, 1]),
      node_indices: wire('int32', [3], [0, 4, 2]),
      node_sigmas: wire('float32', [3], [3, 2, 1]),
      incidence: wire('float32', [2, 3], [0.5, 0.5, 0, 0, 0.4, 0.6]),
      // the kernel's layout of this graph (svdwidgets.hypergraph.layout.bipartite_layout)
      class_xy: wire('float32', [2, 2], [0, 34, 0, 78]),
      node_xy: wire('float32', [3, 2], [1, 34, 1, 52, 1, 78]),
      node_radius: wire('float32', [3], [6.727, 8, 7.082]),
      layer_y: wire('float32', [2], [22, NaN]),
      graph_height: 96,
      selection: ref(sel)
    });
    const view = (await manager.create_view(m)) as HypergraphView;
    document.body.appendChild(view.el);
    click(view.el.querySelector('.svdw-hg-node[data-node="2"]')!);
    expect([sel.get('layer'), sel.get('indices')]).toEqual(['l1', [2]]);
    sel.set({ layer: 'l0', indices: [4] });
    const chosen = Array.from(view.el.querySelectorAll('.svdw-hg-node.svdw-hg-selected'));
    expect(chosen.map(n => n.getAttribute('data-node'))).toEqual(['1']);
    // its classes light up: node 1 is in classes a and b
    expect(view.el.querySelectorAll('.svdw-hg-class.svdw-hg-highlighted')).toHaveLength(2);
  });
});
