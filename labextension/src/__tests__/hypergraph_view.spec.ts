import { describe, expect, it } from 'vitest';

import {
  GEOMETRY,
  classesOf,
  coordinatesFit,
  highlighted,
  nodesOf,
  placeLayout,
  truncate
} from '../hypergraph_layout';
import { HypergraphModel, HypergraphView } from '../hypergraph_view';
import { MODULE_NAME, MODULE_VERSION } from '../version';
import { DummyManager, MockComm } from './manager';

const XSS = '<img src=x onerror=alert(1)>';
const CLASSES = ['zero', 'one', XSS];
const LAYERS = ['stem.conv', 'block.conv1', 'fc'];
// 6 nodes: layer of each node, its singular index, its σ
const NODE_LAYERS = [0, 0, 1, 1, 1, 2];
const NODE_INDICES = [1, 0, 4, 2, 7, 3];
const SIGMAS = [1.5, 2.25, 0.75, 0.9, 0.5, 0.125];
// classes x nodes weights; node 4 is unique to class 2, node 5 unique to class 0
// prettier-ignore
const INCIDENCE = [
  0.5, 0.2, 0.3, 0.0, 0.0, 0.6,
  0.4, 0.0, 0.3, 0.2, 0.0, 0.0,
  0.1, 0.3, 0.0, 0.2, 0.4, 0.0
];

// the kernel's layout of this graph (svdwidgets.hypergraph.layout.bipartite_layout)
const CLASS_Y = [34, 95, 156];
const NODE_Y = [52, 34, 112, 94, 130, 156];
const RADIUS = [8, 6.536, 6.873, 6.162, 6.162, 6.873];
// fc has a single node: no header (NaN), its label names the layer
const LAYER_Y = [22, 82, NaN];

function wire(dtype: string, shape: number[], values: number[]) {
  const data = dtype === 'int32' ? new Int32Array(values) : new Float32Array(values);
  return { dtype, shape, buffer: new DataView(data.buffer) };
}

async function makeView(state: Record<string, unknown> = {}) {
  const manager = new DummyManager();
  const comm = new MockComm();
  const model = (await manager.new_model(
    {
      model_name: 'HypergraphModel',
      model_module: MODULE_NAME,
      model_module_version: MODULE_VERSION,
      model_id: `hg-${Math.random()}`,
      comm: comm as any
    },
    {
      title: 'Class hypergraph',
      class_names: CLASSES,
      class_counts: wire('int32', [3], [10, 12, 9]),
      layer_names: LAYERS,
      node_layers: wire('int32', [6], NODE_LAYERS),
      node_indices: wire('int32', [6], NODE_INDICES),
      node_sigmas: wire('float32', [6], SIGMAS),
      incidence: wire('float32', [3, 6], INCIDENCE),
      threshold: 0.5,
      class_xy: wire('float32', [3, 2], COORDS.classXY),
      node_xy: wire('float32', [6, 2], COORDS.nodeXY),
      node_radius: wire('float32', [6], RADIUS),
      layer_y: wire('float32', [3], LAYER_Y),
      graph_height: 174,
      ...state
    }
  )) as HypergraphModel;
  const view = (await manager.create_view(model)) as HypergraphView;
  document.body.appendChild(view.el);
  return { comm, model, view };
}

const node = (view: HypergraphView, j: number) =>
  view.el.querySelector(`.svdw-hg-node[data-node="${j}"]`)!;
const klass = (view: HypergraphView, c: number) =>
  view.el.querySelector(`.svdw-hg-class[data-class="${c}"]`)!;
const marked = (view: HypergraphView, what: string, cls: string) =>
  Array.from(view.el.querySelectorAll(`.svdw-hg-${what}.${cls}`)).map(e =>
    Number(e.getAttribute(what === 'node' ? 'data-node' : 'data-class'))
  );
const click = (e: Element, init: MouseEventInit = {}) =>
  e.dispatchEvent(new MouseEvent('click', { bubbles: true, ...init }));

const INC = { nClasses: 3, nNodes: 6, data: INCIDENCE };
const SHAPE = { classNames: CLASSES, layerNames: LAYERS, nodeLayers: NODE_LAYERS };
const COORDS = {
  classXY: ([] as number[]).concat(...CLASS_Y.map(y => [0, y])),
  nodeXY: ([] as number[]).concat(...NODE_Y.map(y => [1, y])),
  nodeRadius: RADIUS,
  layerY: LAYER_Y,
  height: 174
};
// max_nodes=3: the kernel keeps nodes 0, 4 and 5
const CUT = {
  classXY: [0, 18, 0, 44, 0, 70],
  nodeXY: [1, 18, 1, NaN, 1, NaN, 1, NaN, 1, 44, 1, 70],
  nodeRadius: [8, NaN, NaN, NaN, 6.162, 6.873],
  layerY: [NaN, NaN, NaN],
  height: 88
};

describe('placing the kernel\'s layout', () => {
  it('keeps the kernel\'s y, puts the columns apart with room for the labels', () => {
    for (const width of [200, 640, 1200]) {
      const lay = placeLayout(SHAPE, COORDS, width, 12);
      expect(lay.width).toBeGreaterThanOrEqual(width);
      expect(lay.height).toBe(174);
      expect(lay.classes.map(p => p.y)).toEqual(CLASS_Y);
      expect(lay.nodes.map(p => p.y)).toEqual(NODE_Y);
      expect(lay.nodes.map(p => p.r)).toEqual(RADIUS);
      const cx = new Set(lay.classes.map(p => p.x));
      const nx = new Set(lay.nodes.map(p => p.x));
      expect(cx.size).toBe(1);
      expect(nx.size).toBe(1);
      const [classX, nodeX] = [[...cx][0], [...nx][0]];
      expect(classX).toBeGreaterThan(lay.classLabelX);
      expect(nodeX - classX).toBeGreaterThanOrEqual(GEOMETRY.minEdgeSpan);
      expect(nodeX + 8).toBeLessThan(lay.nodeLabelX); // the largest radius, then the labels
      expect(lay.nodeLabelX).toBeLessThan(lay.width);
      expect(lay.layers.map(l => [l.name, l.y, l.nodes])).toEqual([
        ['stem.conv', 22, [1, 0]],
        ['block.conv1', 82, [3, 2, 4]]
      ]);
      expect(lay.shown).toBe(6);
    }
  });

  it('leaves out the nodes and layers the kernel did not place (NaN)', () => {
    const lay = placeLayout(SHAPE, CUT, 640, 12);
    expect(lay.shown).toBe(3);
    expect(lay.nodes.map(p => p.shown)).toEqual([true, false, false, false, true, true]);
    expect(lay.layers).toEqual([]); // one node per layer: no headers, the labels name them
  });

  it('checks that the coordinates fit the graph', () => {
    expect(coordinatesFit(SHAPE, COORDS)).toBe(true);
    expect(coordinatesFit(SHAPE, { ...COORDS, nodeRadius: RADIUS.slice(1) })).toBe(false);
    expect(coordinatesFit(SHAPE, { ...COORDS, layerY: [22, 82] })).toBe(false);
    expect(coordinatesFit({ ...SHAPE, classNames: ['a'] }, COORDS)).toBe(false);
  });

  it('derives memberships from the incidence', () => {
    expect(classesOf(INC, 0)).toEqual([0, 1, 2]);
    expect(classesOf(INC, 4)).toEqual([2]);
    expect(nodesOf(INC, 1)).toEqual([0, 2, 3]);
    const lit = highlighted(INC, [4, 5], []);
    expect([...lit.classes].sort()).toEqual([0, 2]);
    expect(truncate('abcdefghij', 5)).toBe('abcd…');
    expect(truncate('abc', 5)).toBe('abc');
  });
});

describe('HypergraphView', () => {
  it('draws one element per class, node and incidence, with layer headers', async () => {
    const { view } = await makeView();
    expect(view.el.querySelectorAll('.svdw-hg-class')).toHaveLength(3);
    expect(view.el.querySelectorAll('.svdw-hg-node')).toHaveLength(6);
    expect(view.el.querySelectorAll('.svdw-hg-edge')).toHaveLength(
      INCIDENCE.filter(w => w > 0).length
    );
    const headers = Array.from(view.el.querySelectorAll('.svdw-hg-layer-label')).map(
      t => t.firstChild!.textContent
    );
    expect(headers).toEqual(LAYERS.slice(0, 2)); // fc: one node, named in its label
    expect(view.el.querySelector('.svdw-hg-title')!.textContent).toBe('Class hypergraph');
    expect(view.el.querySelector('.svdw-hg-threshold')!.textContent).toBe('threshold 0.5');
    expect(marked(view, 'node', 'svdw-hg-unique')).toEqual([4, 5]);
    // a unique node is filled with its class's colour (an inline style: CSS beats attributes)
    const fill = (j: number) => (node(view, j).querySelector('circle') as SVGElement).style.fill;
    expect(fill(4)).not.toBe('');
    expect(fill(4)).not.toBe(fill(5));
    expect(fill(0)).toBe('');
    expect(
      Array.from(node(view, 1).querySelectorAll('text')).map(t => t.textContent)
    ).toEqual(['0', 'σ 2.25']);
    // heavier edges are wider
    const width = (c: number, j: number) =>
      Number(
        view.el
          .querySelector(`.svdw-hg-edge[data-class="${c}"][data-node="${j}"]`)!
          .getAttribute('stroke-width')
      );
    expect(width(0, 5)).toBeGreaterThan(width(2, 0));
  });

  it('draws each element where the kernel\'s coordinates put it, and only the drawn nodes', async () => {
    const { view } = await makeView();
    const cy = (e: Element) => Number(e.querySelector('circle')!.getAttribute('cy'));
    expect([0, 1, 2, 3, 4, 5].map(j => cy(node(view, j)))).toEqual(NODE_Y);
    expect([0, 1, 2].map(c => cy(klass(view, c)))).toEqual(CLASS_Y);
    const r = (j: number) => Number(node(view, j).querySelector('circle')!.getAttribute('r'));
    expect([0, 1, 2, 3, 4, 5].map(r)).toEqual(RADIUS.map(v => Math.round(v * 100) / 100));
    const headers = Array.from(view.el.querySelectorAll('.svdw-hg-layer-label'));
    expect(headers.map(t => Number(t.getAttribute('y')))).toEqual(LAYER_Y.slice(0, 2));
    expect(view.el.querySelector('svg')!.getAttribute('height')).toBe('174');
    expect(node(view, 5).querySelectorAll('text')[1].textContent).toBe('σ 0.125 · fc');

    const { view: cut } = await makeView({
      class_xy: wire('float32', [3, 2], CUT.classXY),
      node_xy: wire('float32', [6, 2], CUT.nodeXY),
      node_radius: wire('float32', [6], CUT.nodeRadius),
      layer_y: wire('float32', [3], CUT.layerY),
      graph_height: 88,
      edge_fade: 0.5
    });
    const drawn = Array.from(cut.el.querySelectorAll('.svdw-hg-node'));
    expect(drawn.map(g => g.getAttribute('data-node'))).toEqual(['0', '4', '5']);
    expect(drawn.map(cy)).toEqual([18, 44, 70]);
    const edges = Array.from(cut.el.querySelectorAll('.svdw-hg-edge'));
    expect(edges).toHaveLength(5); // node 0 in 3 classes, 4 and 5 in one each
    expect(new Set(edges.map(e => e.getAttribute('data-node')))).toEqual(new Set(['0', '4', '5']));
    // the heaviest drawn edge (0.6) at full weight: (0.12 + 0.5) x edge_fade 0.5
    const heavy = cut.el.querySelector('.svdw-hg-edge[data-class="0"][data-node="5"]')!;
    expect(Number(heavy.getAttribute('stroke-opacity'))).toBeCloseTo(0.31, 2);
    expect(cut.el.querySelector('.svdw-hg-status')!.textContent).toContain(
      'the 3 strongest of 6 directions drawn'
    );
    // one drawn node per layer: no headers, each node's label names its layer
    expect(cut.el.querySelectorAll('.svdw-hg-layer-label')).toHaveLength(0);
    expect(node(cut, 4).querySelectorAll('text')[1].textContent).toBe('σ 0.500 · block.conv1');
    cut.model.set('highlight', ['stem.conv', 0]); // node 1: not drawn
    expect(cut.el.querySelector('.svdw-hg-ring')).toBeNull();
    expect(cut.el.querySelector('.svdw-hg-status')!.textContent).toContain(
      'marked stem.conv:0 (not drawn)'
    );
  });

  it('shows class names as text, never as HTML', async () => {
    const { view } = await makeView();
    const label = klass(view, 2).querySelector('text')!;
    expect(label.textContent).toBe('<img src=x onerror=alert(1)>'.slice(0, 17) + '…');
    expect(view.el.querySelector('img')).toBeNull();
    klass(view, 2).dispatchEvent(new MouseEvent('mousemove', { bubbles: true }));
    const tip = view.el.querySelector('.svdw-hg-tooltip') as HTMLDivElement;
    expect(tip.textContent).toContain(XSS);
    expect(tip.querySelector('img')).toBeNull();
    const { view: short } = await makeView({ class_names: ['a', 'b', '<b>x</b>'] });
    expect(klass(short, 2).textContent).toBe('<b>x</b>');
    expect(short.el.querySelector('b')).toBeNull();
  });

  it('selects a clicked node, highlights its classes and sends the selection', async () => {
    const { comm, model, view } = await makeView({ selected_classes: [1] });
    click(node(view, 3));
    expect(model.get('selected_nodes')).toEqual([3]);
    expect(model.get('selected_classes')).toEqual([]);
    const update = comm.sent.find(m => m.method === 'update');
    expect(update.state).toEqual({ selected_nodes: [3], selected_classes: [] });
    expect(marked(view, 'node', 'svdw-hg-selected')).toEqual([3]);
    expect(marked(view, 'class', 'svdw-hg-highlighted')).toEqual([1, 2]);
    expect(marked(view, 'class', 'svdw-hg-dimmed')).toEqual([0]);
    const active = Array.from(view.el.querySelectorAll('.svdw-hg-edge.svdw-hg-active'));
    expect(active.map(e => e.getAttribute('data-node'))).toEqual(['3', '3']);
    expect(view.el.querySelector('.svdw-hg-status')!.textContent).toContain(
      `selected block.conv1:2 · in 2 classes: one, ${XSS}`
    );
    // shift-click adds, a plain click on the same single node clears
    click(node(view, 5), { shiftKey: true });
    expect(model.get('selected_nodes')).toEqual([3, 5]);
    expect(marked(view, 'class', 'svdw-hg-highlighted')).toEqual([0, 1, 2]);
    click(node(view, 5));
    click(node(view, 5));
    expect(model.get('selected_nodes')).toEqual([]);
    expect(view.el.querySelectorAll('.svdw-hg-dimmed')).toHaveLength(0);
  });

  it('selects a clicked class and highlights its nodes; the background clears', async () => {
    const { model, view } = await makeView({ selected_nodes: [0] });
    click(klass(view, 1));
    expect(model.get('selected_classes')).toEqual([1]);
    expect(model.get('selected_nodes')).toEqual([]);
    expect(marked(view, 'node', 'svdw-hg-highlighted')).toEqual([0, 2, 3]);
    expect(marked(view, 'class', 'svdw-hg-selected')).toEqual([1]);
    click(view.el.querySelector('svg')!);
    expect(model.get('selected_classes')).toEqual([]);
  });

  it('follows a selection and a highlight set by the kernel', async () => {
    const { model, view } = await makeView();
    model.set('selected_nodes', [4]);
    expect(marked(view, 'class', 'svdw-hg-highlighted')).toEqual([2]);
    model.set('highlight', ['block.conv1', 7]);
    const ring = view.el.querySelector('.svdw-hg-ring')!;
    expect(ring.getAttribute('data-node')).toBe('4');
    model.set('highlight', ['block.conv1', 30]);
    expect(view.el.querySelector('.svdw-hg-ring')).toBeNull();
    expect(view.el.querySelector('.svdw-hg-status')!.textContent).toContain(
      'block.conv1:30 is not influential for any class'
    );
  });

  it('shows a node tooltip with its layer, index, σ and classes', async () => {
    const { view } = await makeView();
    node(view, 5).dispatchEvent(new MouseEvent('mousemove', { bubbles: true }));
    const tip = view.el.querySelector('.svdw-hg-tooltip') as HTMLDivElement;
    expect(tip.style.display).toBe('block');
    expect(tip.textContent).toContain('fc:3  σ = 0.125');
    expect(tip.textContent).toContain('only in class zero');
    node(view, 0).dispatchEvent(new MouseEvent('mousemove', { bubbles: true }));
    expect(tip.textContent).toContain('in 3 classes: zero, one, <img');
  });

  it('draws nothing until consistent data arrives', async () => {
    const { view } = await makeView({ class_names: ['only one'] });
    expect(view.el.querySelectorAll('.svdw-hg-node')).toHaveLength(0);
    expect(view.el.querySelector('.svdw-hg-status')!.textContent).toBe('no hypergraph');
    const { view: stale } = await makeView({ node_radius: wire('float32', [5], RADIUS.slice(1)) });
    expect(stale.el.querySelectorAll('.svdw-hg-node')).toHaveLength(0);
    const { view: none } = await makeView({ node_xy: null });
    expect(none.el.querySelectorAll('.svdw-hg-node')).toHaveLength(0);
  });
});
