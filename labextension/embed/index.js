// Offline, self-contained widget renderer for HTML written by svdwidgets.widgets.export_html().
// Bundles @jupyter-widgets/html-manager (base + controls + output), our widgets and the bqplot
// and bqscales front ends (bqplot 0.13's Python side sends its scales as `bqscales` models);
// never touches a CDN.
import { HTMLManager } from '@jupyter-widgets/html-manager/lib/htmlmanager';
import { satisfies } from 'semver';
import '@jupyter-widgets/controls/css/widgets-base.css';
import '@lumino/widgets/style/index.css';
import '../style/index.css';
import './icons.css';
import * as svdwidgets from '../lib/widgets';
import { MODULE_NAME, MODULE_VERSION } from '../lib/version';
import bqplotPackage from 'bqplot/package.json';
import bqscalesPackage from 'bqscales/package.json';

// name -> the bundled version and how to evaluate the module. bqplot and bqscales are evaluated
// on first use only: a page without plots does not pay for them, and bqscales' build reads
// document.body, which does not exist yet while this script runs in the page's <head>.
const MODULES = {
  [MODULE_NAME]: { version: MODULE_VERSION, load: () => Promise.resolve(svdwidgets) },
  bqplot: { version: bqplotPackage.version, load: () => import('bqplot') },
  bqscales: { version: bqscalesPackage.version, load: () => import('bqscales') }
};

function loader(moduleName, moduleVersion) {
  const mod = MODULES[moduleName];
  if (mod === undefined) {
    return Promise.reject(new Error(`svdwidgets-embed: module ${moduleName}@${moduleVersion} is not bundled`));
  }
  // the same rule as JupyterLab's widget manager: the registered version must satisfy the
  // model's _model_module_version range ("^0.6.1" from Python bqplot 0.13.1)
  if (!satisfies(mod.version, moduleVersion)) {
    return Promise.reject(
      new Error(`svdwidgets-embed: ${moduleName}@${moduleVersion} is wanted, ${mod.version} is bundled`)
    );
  }
  return mod.load();
}

// bqplot's CSS (like ours) is written in JupyterLab's theme variables (--jp-*): without them its
// plot area is filled black and its axes have no stroke. The html-manager defines them only for
// pages that load @jupyter-widgets/controls; define them for every page that lacks them (a page
// inside a themed host keeps the host's).
async function ensureThemeVariables() {
  if (getComputedStyle(document.documentElement).getPropertyValue('--jp-layout-color0') === '') {
    await import('@jupyter-widgets/controls/css/labvariables.css');
  }
}

function errorMessage(errors) {
  const message = document.createElement('pre');
  message.className = 'svdw-embed-error';
  message.style.whiteSpace = 'pre-wrap';
  message.textContent = ['svdwidgets-embed could not render this page fully:']
    .concat(errors.map(e => `  ${e?.message ?? e}`))
    .join('\n');
  return message;
}

/**
 * Render every widget view of the page. A model that cannot be built (a module or a class that
 * is not bundled, a version that does not match) becomes ipywidgets' error widget; the page then
 * says why above its views, and the promise rejects with the reasons once the views are drawn.
 */
export async function renderWidgets(element = document.documentElement) {
  await ensureThemeVariables();
  const managers = [];
  const failures = [];
  const stateTags = element.querySelectorAll('script[type="application/vnd.jupyter.widget-state+json"]');
  for (const tag of Array.from(stateTags)) {
    const manager = new HTMLManager({ loader });
    const state = JSON.parse(tag.innerHTML);
    const models = await manager.set_state(state);
    managers.push(manager);
    const broken = models.filter(m => m.get('_view_name') === 'ErrorWidgetView');
    for (const m of broken) {
      const err = m.get('error');
      failures.push(new Error(`${state.state[m.model_id]?.model_name ?? m.model_id}: ${err?.message ?? err}`));
    }
    let firstArea = null;
    const viewTags = element.querySelectorAll('script[type="application/vnd.jupyter.widget-view+json"]');
    await Promise.all(
      Array.from(viewTags).map(async viewtag => {
        const { model_id } = JSON.parse(viewtag.innerHTML);
        if (!(model_id in state.state) || viewtag.parentElement === null) {
          return; // another state's view
        }
        const widgetTag = document.createElement('div');
        widgetTag.className = 'widget-subarea';
        viewtag.parentElement.insertBefore(widgetTag, viewtag);
        firstArea ??= widgetTag;
        try {
          const view = await manager.create_view(models.find(m => m.model_id === model_id));
          await manager.display_view(view, widgetTag);
        } catch (err) {
          failures.push(err);
          widgetTag.appendChild(errorMessage([err]));
        }
      })
    );
    if (broken.length > 0 && firstArea !== null) {
      firstArea.parentElement.insertBefore(errorMessage(failures), firstArea);
    }
  }
  window.svdwidgetsManagers = managers; // for tests / debugging
  if (failures.length > 0) {
    throw new Error(failures.map(f => f?.message ?? String(f)).join('; '));
  }
  return managers;
}

if (!window._svdwidgets_embedder) {
  window._svdwidgets_embedder = true;
  const go = () =>
    renderWidgets().then(
      () => {
        document.documentElement.dataset.svdwidgetsRendered = 'true';
      },
      err => {
        console.error('svdwidgets-embed failed', err);
        document.documentElement.dataset.svdwidgetsRendered = 'error';
      }
    );
  if (document.readyState === 'complete') {
    go();
  } else {
    window.addEventListener('load', go);
  }
}
