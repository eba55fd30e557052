/**
 * HypergraphView: the class hypergraph as a bipartite graph, classes x singular directions.
 *
 * The counterpart of `svdwidgets/widgets/hypergraph_view.py`. The layout comes from the kernel
 * (`svdwidgets/hypergraph/layout.py`, as the traits class_xy ... edge_fade); this file and
 * `hypergraph_layout.ts` only draw it. Clicking a node selects it and highlights its classes, clicking a class
 * selects it and highlights its nodes (shift-click adds, the background clears); the highlighting
 * is computed here, without the kernel, so that it also works in an exported page. Every name
 * (class, layer) is set as text (`textContent`), never parsed as HTML.
 */
import {
  DOMWidgetModel,
  DOMWidgetView,
  ISerializers,
  WidgetModel
} from '@jupyter-widgets/base';

import {
  GEOMETRY,
  IBipartiteLayout,
  ICoordinates,
  IIncidence,
  classColor,
  classesOf,
  coordinatesFit,
  edgePath,
  formatSigma,
  highlighted,
  nodesOf,
  placeLayout,
  sigmaLabel,
  truncate
} from './hypergraph_layout';
import { followSelection, select, selectedIn, selectionSerializers } from './selection';
import { NDArray, arraySerializer } from './serializers';
import { MODULE_NAME, MODULE_VERSION } from './version';

const SVG_NS = 'http://www.w3.org/2000/svg';

/** The synced traits, in the order of the Python class. */
export interface IHypergraphState {
  /** Title above the graph. */
  title: string;
  /** The classes (hyperedges). */
  class_names: string[];
  /** int32 (C,): inputs per class (may be empty). */
  class_counts: NDArray | null;
  /** The layers, in network order. */
  layer_names: string[];
  /** int32 (N,): each node's layer, an index into layer_names. */
  node_layers: NDArray | null;
  /** int32 (N,): each node's singular index in its layer. */
  node_indices: NDArray | null;
  /** float32 (N,): each node's singular value. */
  node_sigmas: NDArray | null;
  /** float32 (C, N): a node's weight in a class where it is influential, else 0. */
  incidence: NDArray | null;
  /** The hypergraph's threshold (display only). */
  threshold: number | null;
  /** Directions drawn at most (the kernel's layout picks them), or null for all. */
  max_nodes: number | null;
  /** float32 (C, 2): each class's (column, y px), computed by the kernel. */
  class_xy: NDArray | null;
  /** float32 (N, 2): each node's (column, y px); NaN for a node not drawn. */
  node_xy: NDArray | null;
  /** float32 (N,): each node's radius in px; NaN for a node not drawn. */
  node_radius: NDArray | null;
  /** float32 (L,): each layer header's baseline; NaN for a layer without drawn nodes. */
  layer_y: NDArray | null;
  /** Height of the drawing in px. */
  graph_height: number;
  /** Factor on every edge's opacity (< 1 when many edges are drawn). */
  edge_fade: number;
  /** Indices of the selected nodes. */
  selected_nodes: number[];
  /** Indices of the selected classes. */
  selected_classes: number[];
  /** A direction (layer, index) to mark, or null. */
  highlight: [string, number] | null;
  /** A selection shared with linked views, or null. */
  selection: WidgetModel | null;
}

export class HypergraphModel extends DOMWidgetModel {
  defaults(): any {
    const state: IHypergraphState = {
      title: '',
      class_names: [],
      class_counts: null,
      layer_names: [],
      node_layers: null,
      node_indices: null,
      node_sigmas: null,
      incidence: null,
      threshold: null,
      max_nodes: 48,
      class_xy: null,
      node_xy: null,
      node_radius: null,
      layer_y: null,
      graph_height: 0,
      edge_fade: 1,
      selected_nodes: [],
      selected_classes: [],
      highlight: null,
      selection: null
    };
    return {
      ...super.defaults(),
      _model_name: HypergraphModel.model_name,
      _model_module: HypergraphModel.model_module,
      _model_module_version: HypergraphModel.model_module_version,
      _view_name: HypergraphModel.view_name,
      _view_module: HypergraphModel.view_module,
      _view_module_version: HypergraphModel.view_module_version,
      ...state
    };
  }

  static serializers: ISerializers = {
    ...DOMWidgetModel.serializers,
    class_counts: arraySerializer,
    node_layers: arraySerializer,
    node_indices: arraySerializer,
    node_sigmas: arraySerializer,
    incidence: arraySerializer,
    class_xy: arraySerializer,
    node_xy: arraySerializer,
    node_radius: arraySerializer,
    layer_y: arraySerializer,
    ...selectionSerializers
  };

  static model_name = 'HypergraphModel';
  static model_module = MODULE_NAME;
  static model_module_version = MODULE_VERSION;
  static view_name = 'HypergraphView';
  static view_module = MODULE_NAME;
  static view_module_version = MODULE_VERSION;
}

/** The graph as the view reads it (derived from the model once per data change). */
interface IGraph {
  classNames: string[];
  layerNames: string[];
  counts: ArrayLike<number>;
  nodeLayers: ArrayLike<number>;
  nodeIndices: ArrayLike<number>;
  sigmas: ArrayLike<number>;
  inc: IIncidence;
  /** Column sums of the incidence. */
  weights: Float64Array;
  /** The largest incidence weight (edge scale). */
  maxWeight: number;
  /** Each node's classes. */
  memberOf: number[][];
  /** The kernel's layout. */
  coords: ICoordinates;
  /** Factor on every edge's opacity. */
  edgeFade: number;
}

const FALLBACK_WIDTH = 640;
/** Wider than this, the edges only get longer: keep the graph compact. */
const MAX_WIDTH = 900;

export class HypergraphView extends DOMWidgetView {
  private _title!: HTMLDivElement;
  private _threshold!: HTMLDivElement;
  private _status!: HTMLDivElement;
  private _svg!: SVGSVGElement;
  private _legend!: HTMLDivElement;
  private _tooltip!: HTMLDivElement;
  private _graph: IGraph | null = null;
  private _layout: IBipartiteLayout | null = null;
  private _resizeObserver: ResizeObserver | null = null;
  private _lastWidth = -1;
  private _frame = 0;
  private _shared: WidgetModel | null = null;

  render(): void {
    this.el.classList.add('svdw-hypergraph');
    const header = document.createElement('div');
    header.className = 'svdw-hg-header';
    this._title = document.createElement('div');
    this._title.className = 'svdw-hg-title';
    this._threshold = document.createElement('div');
    this._threshold.className = 'svdw-hg-threshold';
    header.append(this._title, this._threshold);
    this._status = document.createElement('div');
    this._status.className = 'svdw-hg-status';
    this._svg = document.createElementNS(SVG_NS, 'svg');
    this._svg.setAttribute('class', 'svdw-hg-svg');
    this._svg.addEventListener('click', this._onClick);
    this._svg.addEventListener('mousemove', this._onHover);
    this._svg.addEventListener('mouseleave', this._hideTooltip);
    this._legend = document.createElement('div');
    this._legend.className = 'svdw-hg-legend';
    this._legend.textContent =
      'node size: total weight · filled node: unique to one class (its colour) · ' +
      'edge width: weight of the direction in the class';
    this._tooltip = document.createElement('div');
    this._tooltip.className = 'svdw-hg-tooltip';
    this._tooltip.style.display = 'none';
    this.el.append(header, this._status, this._svg, this._legend, this._tooltip);

    this.listenTo(this.model, 'change:title change:threshold', this._updateHeader);
    this.listenTo(
      this.model,
      'change:class_names change:class_counts change:layer_names change:node_layers ' +
        'change:node_indices change:node_sigmas change:incidence change:class_xy ' +
        'change:node_xy change:node_radius change:layer_y change:graph_height change:edge_fade',
      this.draw
    );
    this.listenTo(
      this.model,
      'change:selected_nodes change:selected_classes change:highlight',
      this._updateSelection
    );
    this.listenTo(this.model, 'change:selection', this._bindShared);
    this._bindShared();
    if (typeof ResizeObserver !== 'undefined') {
      this._resizeObserver = new ResizeObserver(() => this._scheduleResize());
      this._resizeObserver.observe(this.el);
    }
    this._updateHeader();
    this.draw();
    this.displayed.then(() => this._scheduleResize());
  }

  remove(): any {
    this._resizeObserver?.disconnect();
    cancelAnimationFrame(this._frame);
    this._svg?.removeEventListener('click', this._onClick);
    this._svg?.removeEventListener('mousemove', this._onHover);
    this._svg?.removeEventListener('mouseleave', this._hideTooltip);
    return super.remove();
  }

  /** The current layout (null before data arrives); for tests. */
  get graphLayout(): IBipartiteLayout | null {
    return this._layout;
  }

  /** Redraw everything (data or width changed). */
  draw(): void {
    const svg = this._svg;
    while (svg.firstChild) {
      svg.removeChild(svg.firstChild);
    }
    const graph = readGraph(this.model);
    this._graph = graph;
    if (graph === null) {
      this._layout = null;
      svg.setAttribute('width', '0');
      svg.setAttribute('height', '0');
      this._updateSelection();
      return;
    }
    // Node labels in two columns: the singular index (right-aligned), then σ.
    let indexChars = 1;
    let sigmaChars = 1;
    for (let j = 0; j < graph.inc.nNodes; j++) {
      if (!Number.isFinite(graph.coords.nodeXY[2 * j + 1])) {
        continue;
      }
      indexChars = Math.max(indexChars, String(graph.nodeIndices[j]).length);
      sigmaChars = Math.max(sigmaChars, this._sigmaText(graph, j).length);
    }
    const labelChars = indexChars + 1 + sigmaChars;
    const indexWidth = indexChars * GEOMETRY.charWidth;
    const available = (this.el.clientWidth || FALLBACK_WIDTH) - 2;
    const layout = placeLayout(graph, graph.coords, Math.min(available, MAX_WIDTH), labelChars);
    this._layout = layout;
    svg.setAttribute('width', String(layout.width));
    svg.setAttribute('height', String(layout.height));
    svg.setAttribute('viewBox', `0 0 ${layout.width} ${layout.height}`);

    // Edges of the drawn nodes first (under the nodes), heavier ones on top; all of them
    // fainter by the kernel's edge_fade when there are many.
    const edges = el('g', { class: 'svdw-hg-edges' });
    const order: Array<[number, number, number]> = [];
    const { nClasses, nNodes, data } = graph.inc;
    let maxWeight = 0;
    for (let c = 0; c < nClasses; c++) {
      for (let j = 0; j < nNodes; j++) {
        const w = data[c * nNodes + j];
        if (w > 0 && layout.nodes[j].shown) {
          order.push([w, c, j]);
          maxWeight = Math.max(maxWeight, w);
        }
      }
    }
    order.sort((a, b) => a[0] - b[0]);
    for (const [w, c, j] of order) {
      const t = maxWeight > 0 ? w / maxWeight : 0;
      edges.appendChild(
        el('path', {
          class: 'svdw-hg-edge',
          d: edgePath(layout.classes[c], layout.classRadius, layout.nodes[j]),
          stroke: classColor(c),
          'stroke-width': fmt(0.6 + 4.4 * t),
          'stroke-opacity': fmt((0.12 + 0.5 * t) * graph.edgeFade),
          'data-class': String(c),
          'data-node': String(j)
        })
      );
    }
    svg.appendChild(edges);

    // Layer headers.
    const layers = el('g', { class: 'svdw-hg-layers' });
    for (const place of layout.layers) {
      const t = text(
        truncate(place.name, GEOMETRY.maxLayerLabelChars),
        layout.nodes[place.nodes[0]].x - maxRadius(layout),
        place.y,
        'start',
        'svdw-hg-layer-label'
      );
      t.setAttribute('data-layer', String(place.layer));
      const tip = el('title', {});
      const all = countIn(graph.nodeLayers, place.layer);
      const drawn = place.nodes.length;
      tip.textContent =
        `${place.name}: ${plural(all, 'direction')}` +
        (drawn < all ? ` (the ${drawn} strongest drawn)` : '');
      t.appendChild(tip);
      layers.appendChild(t);
    }
    svg.appendChild(layers);

    // Classes.
    const classes = el('g', { class: 'svdw-hg-classes' });
    graph.classNames.forEach((name, c) => {
      const p = layout.classes[c];
      const g = el('g', { class: 'svdw-hg-class', 'data-class': String(c) });
      g.appendChild(
        el('circle', {
          class: 'svdw-hg-class-mark',
          cx: fmt(p.x),
          cy: fmt(p.y),
          r: fmt(layout.classRadius),
          fill: classColor(c)
        })
      );
      g.appendChild(
        text(
          truncate(name, GEOMETRY.maxClassLabelChars),
          layout.classLabelX,
          p.y + 4,
          'end',
          'svdw-hg-class-label'
        )
      );
      classes.appendChild(g);
    });
    svg.appendChild(classes);

    // Nodes.
    const nodes = el('g', { class: 'svdw-hg-nodes' });
    for (let j = 0; j < nNodes; j++) {
      const p = layout.nodes[j];
      if (!p.shown) {
        continue; // not among the strongest the kernel's layout keeps
      }
      const owners = graph.memberOf[j];
      const unique = owners.length === 1;
      const g = el('g', {
        class: unique ? 'svdw-hg-node svdw-hg-unique' : 'svdw-hg-node',
        'data-node': String(j)
      });
      const dot = el('circle', { class: 'svdw-hg-dot', cx: fmt(p.x), cy: fmt(p.y), r: fmt(p.r) });
      if (unique) {
        dot.style.fill = classColor(owners[0]); // a style: the CSS fill would win over an attribute
      }
      g.appendChild(dot);
      const x = layout.nodeLabelX;
      const index = String(graph.nodeIndices[j]);
      const sigma = this._sigmaText(graph, j);
      g.appendChild(text(index, x + indexWidth, p.y + 4, 'end', 'svdw-hg-node-label'));
      g.appendChild(text(sigma, x + indexWidth + 6, p.y + 4, 'start', 'svdw-hg-node-label'));
      nodes.appendChild(g);
    }
    svg.appendChild(nodes);
    svg.appendChild(el('g', { class: 'svdw-hg-marks' }));
    this._updateSelection();
  }

  /** σ, then the layer's name when the layout gives its layer no header (a single node). */
  private _sigmaText(graph: IGraph, j: number): string {
    const layer = graph.nodeLayers[j];
    const headed = Number.isFinite(graph.coords.layerY[layer]);
    const name = truncate(graph.layerNames[layer] ?? '?', GEOMETRY.maxLayerLabelChars);
    return sigmaLabel(graph.sigmas[j]) + (headed ? '' : ` · ${name}`);
  }

  /** Mark the selection, what it highlights, and the `highlight` direction; update the status. */
  private _updateSelection(): void {
    const graph = this._graph;
    const layout = this._layout;
    if (graph === null || layout === null) {
      this._status.textContent = 'no hypergraph';
      return;
    }
    const selNodes = this._shared
      ? this._sharedNodes(graph)
      : this._selected('selected_nodes', graph.inc.nNodes);
    const selClasses = this._selected('selected_classes', graph.inc.nClasses);
    const lit = highlighted(graph.inc, selNodes, selClasses);
    const nodeSet = new Set(selNodes);
    const classSet = new Set(selClasses);
    const any = nodeSet.size + classSet.size > 0;
    this._svg.classList.toggle('svdw-hg-has-selection', any);

    this._svg.querySelectorAll('.svdw-hg-class').forEach(g => {
      const c = Number(g.getAttribute('data-class'));
      g.classList.toggle('svdw-hg-selected', classSet.has(c));
      g.classList.toggle('svdw-hg-highlighted', lit.classes.has(c));
      g.classList.toggle('svdw-hg-dimmed', any && !classSet.has(c) && !lit.classes.has(c));
    });
    this._svg.querySelectorAll('.svdw-hg-node').forEach(g => {
      const j = Number(g.getAttribute('data-node'));
      g.classList.toggle('svdw-hg-selected', nodeSet.has(j));
      g.classList.toggle('svdw-hg-highlighted', lit.nodes.has(j));
      g.classList.toggle('svdw-hg-dimmed', any && !nodeSet.has(j) && !lit.nodes.has(j));
    });
    this._svg.querySelectorAll('.svdw-hg-edge').forEach(e => {
      const c = Number(e.getAttribute('data-class'));
      const j = Number(e.getAttribute('data-node'));
      const active = nodeSet.has(j) || classSet.has(c);
      e.classList.toggle('svdw-hg-active', active);
      e.classList.toggle('svdw-hg-dimmed', any && !active);
    });

    // The `highlight` direction: a ring around its node.
    const marks = this._svg.querySelector('.svdw-hg-marks');
    while (marks && marks.firstChild) {
      marks.removeChild(marks.firstChild);
    }
    const target = this._highlightNode(graph);
    if (marks && target !== null && target >= 0 && layout.nodes[target].shown) {
      const p = layout.nodes[target];
      for (const cls of ['svdw-hg-ring-halo', 'svdw-hg-ring']) {
        marks.appendChild(
          el('circle', {
            class: cls,
            cx: fmt(p.x),
            cy: fmt(p.y),
            r: fmt(p.r + 4),
            'data-node': String(target)
          })
        );
      }
    }
    this._status.textContent = this._statusText(graph, selNodes, selClasses, lit.classes, target);
  }

  /** Follow the shared selection (if any): its directions are the selected nodes. */
  private _bindShared(): void {
    this._shared = followSelection(this, this._shared, () => this._updateSelection());
    if (this._status) {
      this._updateSelection();
    }
  }


  /** The nodes of the directions in the shared selection. */
  private _sharedNodes(graph: IGraph): number[] {
    const layer = String(this._shared?.get('layer') ?? '');
    const chosen = new Set(selectedIn(this._shared, layer));
    const l = graph.layerNames.indexOf(layer);
    const out: number[] = [];
    for (let j = 0; j < graph.inc.nNodes; j++) {
      if (graph.nodeLayers[j] === l && chosen.has(graph.nodeIndices[j])) {
        out.push(j);
      }
    }
    return out;
  }

  /** The node of the `highlight` direction: its index, -1 if it is not a node, null if unset. */
  private _highlightNode(graph: IGraph): number | null {
    const h = this.model.get('highlight');
    if (!Array.isArray(h) || h.length !== 2) {
      return null;
    }
    const layer = graph.layerNames.indexOf(String(h[0]));
    for (let j = 0; j < graph.inc.nNodes; j++) {
      if (graph.nodeLayers[j] === layer && graph.nodeIndices[j] === Number(h[1])) {
        return j;
      }
    }
    return -1;
  }

  private _statusText(
    graph: IGraph,
    selNodes: number[],
    selClasses: number[],
    litClasses: Set<number>,
    target: number | null
  ): string {
    const parts: string[] = [];
    if (selNodes.length > 0) {
      const names = selNodes.map(j => this._nodeName(graph, j));
      const classes = [...litClasses].sort((a, b) => a - b).map(c => graph.classNames[c]);
      parts.push(
        `selected ${names.join(', ')} · in ${plural(classes.length, 'class', 'es')}: ` +
          classes.join(', ')
      );
    } else if (selClasses.length > 0) {
      const n = highlighted(graph.inc, [], selClasses).nodes.size;
      parts.push(
        `selected class ${selClasses.map(c => graph.classNames[c]).join(', ')} · ` +
          `${n} direction${n === 1 ? '' : 's'}`
      );
    } else {
      parts.push(
        `${graph.inc.nClasses} classes × ${graph.inc.nNodes} directions in ` +
          `${new Set(Array.from(graph.nodeLayers)).size} layers · click a direction or a class ` +
          '(shift-click adds)'
      );
    }
    const shown = this._layout?.shown ?? graph.inc.nNodes;
    if (shown < graph.inc.nNodes) {
      parts.push(`the ${shown} strongest of ${graph.inc.nNodes} directions drawn`);
    }
    const h = this.model.get('highlight');
    if (target === -1 && Array.isArray(h)) {
      parts.push(`${h[0]}:${h[1]} is not influential for any class`);
    } else if (target !== null && target >= 0) {
      const hidden = this._layout !== null && !this._layout.nodes[target].shown;
      parts.push(`marked ${this._nodeName(graph, target)}${hidden ? ' (not drawn)' : ''}`);
    }
    return parts.join(' · ');
  }

  private _nodeName(graph: IGraph, j: number): string {
    return `${graph.layerNames[graph.nodeLayers[j]] ?? '?'}:${graph.nodeIndices[j]}`;
  }

  private _selected(name: string, size: number): number[] {
    const v = this.model.get(name);
    return Array.isArray(v) ? v.map(Number).filter(i => i >= 0 && i < size) : [];
  }

  private _updateHeader(): void {
    this._title.textContent = this.model.get('title') || '';
    const t = this.model.get('threshold');
    this._threshold.textContent = typeof t === 'number' ? `threshold ${t}` : '';
  }

  private _scheduleResize(): void {
    cancelAnimationFrame(this._frame);
    this._frame = requestAnimationFrame(() => {
      const w = this.el.clientWidth;
      if (w > 0 && w !== this._lastWidth) {
        this._lastWidth = w;
        this.draw();
      }
    });
  }

  private _hit(ev: Event): { kind: 'node' | 'class'; index: number } | null {
    const target = ev.target as Element | null;
    const node = target?.closest?.('.svdw-hg-node');
    if (node) {
      return { kind: 'node', index: Number(node.getAttribute('data-node')) };
    }
    const cls = target?.closest?.('.svdw-hg-class');
    if (cls) {
      return { kind: 'class', index: Number(cls.getAttribute('data-class')) };
    }
    return null;
  }

  private _onClick = (ev: MouseEvent): void => {
    const hit = this._hit(ev);
    let nodes: number[] = [];
    let classes: number[] = [];
    if (hit !== null) {
      const key = hit.kind === 'node' ? 'selected_nodes' : 'selected_classes';
      const current: number[] =
        hit.kind === 'node' && this._shared && this._graph
          ? this._sharedNodes(this._graph)
          : (this.model.get(key) || []).map(Number);
      let next: number[];
      if (ev.shiftKey || ev.metaKey || ev.ctrlKey) {
        next = current.includes(hit.index)
          ? current.filter(i => i !== hit.index)
          : [...current, hit.index];
      } else {
        next = current.length === 1 && current[0] === hit.index ? [] : [hit.index];
      }
      if (hit.kind === 'node') {
        nodes = next;
      } else {
        classes = next;
      }
    }
    this.model.set({ selected_nodes: nodes, selected_classes: classes });
    this.model.save_changes();
    const graph = this._graph;
    if (this._shared && graph && (hit === null || hit.kind === 'node')) {
      // a node click selects its direction everywhere; nodes of other layers drop out
      const layer = nodes.length ? graph.layerNames[graph.nodeLayers[nodes[nodes.length - 1]]] : '';
      const indices = nodes
        .filter(j => graph.layerNames[graph.nodeLayers[j]] === layer)
        .map(j => graph.nodeIndices[j]);
      select(this._shared, layer || String(this._shared.get('layer') ?? ''), indices);
    }
  };

  private _onHover = (ev: MouseEvent): void => {
    const hit = this._hit(ev);
    const graph = this._graph;
    if (hit === null || graph === null) {
      this._hideTooltip();
      return;
    }
    const tip = this._tooltip;
    tip.textContent =
      hit.kind === 'node' ? this._nodeTip(graph, hit.index) : this._classTip(graph, hit.index);
    tip.style.display = 'block';
    const box = this.el.getBoundingClientRect();
    let x = ev.clientX - box.left + 14;
    const y = ev.clientY - box.top + 14;
    if (x + tip.offsetWidth > this.el.clientWidth) {
      x = ev.clientX - box.left - tip.offsetWidth - 10;
    }
    tip.style.left = `${Math.max(x, 0)}px`;
    tip.style.top = `${y}px`;
  };

  private _nodeTip(graph: IGraph, j: number): string {
    const owners = graph.memberOf[j];
    const names = owners.map(c => graph.classNames[c]);
    const where =
      owners.length === 1
        ? `only in class ${names[0]}`
        : `in ${owners.length} classes: ${names.join(', ')}`;
    return (
      `${this._nodeName(graph, j)}  σ = ${formatSigma(graph.sigmas[j])}\n${where}\n` +
      `total weight ${graph.weights[j].toFixed(3)}`
    );
  }

  private _classTip(graph: IGraph, c: number): string {
    const members = nodesOf(graph.inc, c);
    const unique = members.filter(j => graph.memberOf[j].length === 1).length;
    const count = graph.counts.length > c ? `${graph.counts[c]} inputs · ` : '';
    return (
      `class ${graph.classNames[c]}\n${count}${members.length} direction` +
      `${members.length === 1 ? '' : 's'} (${unique} unique)`
    );
  }

  private _hideTooltip = (): void => {
    this._tooltip.style.display = 'none';
  };
}

/** The model's arrays as a graph, or null when they are missing or inconsistent. */
function readGraph(model: DOMWidgetModel): IGraph | null {
  const classNames: string[] = (model.get('class_names') || []).map(String);
  const layerNames: string[] = (model.get('layer_names') || []).map(String);
  const inc: NDArray | null = model.get('incidence');
  const nodeLayers: NDArray | null = model.get('node_layers');
  const nodeIndices: NDArray | null = model.get('node_indices');
  const sigmas: NDArray | null = model.get('node_sigmas');
  const counts: NDArray | null = model.get('class_counts');
  const classXY: NDArray | null = model.get('class_xy');
  const nodeXY: NDArray | null = model.get('node_xy');
  const nodeRadius: NDArray | null = model.get('node_radius');
  const layerY: NDArray | null = model.get('layer_y');
  if (!inc || !nodeLayers || !nodeIndices || !sigmas || inc.shape.length !== 2) {
    return null;
  }
  if (!classXY || !nodeXY || !nodeRadius || !layerY) {
    return null;
  }
  const coords: ICoordinates = {
    classXY: classXY.data,
    nodeXY: nodeXY.data,
    nodeRadius: nodeRadius.data,
    layerY: layerY.data,
    height: Number(model.get('graph_height'))
  };
  if (!coordinatesFit({ classNames, layerNames, nodeLayers: nodeLayers.data }, coords)) {
    return null;
  }
  const [nClasses, nNodes] = inc.shape;
  if (
    nClasses !== classNames.length ||
    nodeLayers.data.length !== nNodes ||
    nodeIndices.data.length !== nNodes ||
    sigmas.data.length !== nNodes
  ) {
    return null;
  }
  const incidence: IIncidence = { nClasses, nNodes, data: inc.data };
  const weights = new Float64Array(nNodes);
  let maxWeight = 0;
  for (let c = 0; c < nClasses; c++) {
    for (let j = 0; j < nNodes; j++) {
      const w = inc.data[c * nNodes + j];
      if (w > 0) {
        weights[j] += w;
        maxWeight = Math.max(maxWeight, w);
      }
    }
  }
  const memberOf = Array.from({ length: nNodes }, (_, j) => classesOf(incidence, j));
  return {
    classNames,
    layerNames,
    counts: counts ? counts.data : [],
    nodeLayers: nodeLayers.data,
    nodeIndices: nodeIndices.data,
    sigmas: sigmas.data,
    inc: incidence,
    weights,
    maxWeight,
    memberOf,
    coords,
    edgeFade: Number(model.get('edge_fade') ?? 1)
  };
}

/** The largest radius of the drawn nodes. */
function maxRadius(layout: IBipartiteLayout): number {
  return layout.nodes.reduce((m, p) => (p.shown ? Math.max(m, p.r) : m), 0);
}

/** How many of `values` equal `v`. */
function countIn(values: ArrayLike<number>, v: number): number {
  let n = 0;
  for (let i = 0; i < values.length; i++) {
    n += values[i] === v ? 1 : 0;
  }
  return n;
}

/** `1 class`, `2 classes`. */
function plural(n: number, noun: string, suffix = 's'): string {
  return `${n} ${noun}${n === 1 ? '' : suffix}`;
}

function fmt(v: number): string {
  return String(Math.round(v * 100) / 100);
}

function el(tag: string, attrs: Record<string, string>): SVGElement {
  const e = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) {
    e.setAttribute(k, v);
  }
  return e;
}

function text(content: string, x: number, y: number, anchor: string, cls: string): SVGElement {
  const t = el('text', { class: cls, x: fmt(x), y: fmt(y), 'text-anchor': anchor });
  t.textContent = content;
  return t;
}
