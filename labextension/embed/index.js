// Offline, self-contained widget renderer for HTML written by svdwidgets.widgets.export_html().
// Bundles @jupyter-widgets/html-manager (base + controls + output) and our widgets; never touches a CDN.
import { HTMLManager } from '@jupyter-widgets/html-manager/lib/htmlmanager';
import '@jupyter-widgets/controls/css/widgets-base.css';
import '@lumino/widgets/style/index.css';
import '../style/index.css';
import * as svdwidgets from '../lib/widgets';
import { MODULE_NAME } from '../lib/version';

const MODULES = { [MODULE_NAME]: svdwidgets };

function loader(moduleName, moduleVersion) {
  const mod = MODULES[moduleName];
  return mod
    ? Promise.resolve(mod)
    : Promise.reject(new Error(`svdwidgets-embed: module ${moduleName}@${moduleVersion} is not bundled`));
}

export async function renderWidgets(element = document.documentElement) {
  const managers = [];
  const stateTags = element.querySelectorAll('script[type="application/vnd.jupyter.widget-state+json"]');
  for (const tag of Array.from(stateTags)) {
    const manager = new HTMLManager({ loader });
    const models = await manager.set_state(JSON.parse(tag.innerHTML));
    const viewTags = element.querySelectorAll('script[type="application/vnd.jupyter.widget-view+json"]');
    await Promise.all(
      Array.from(viewTags).map(async viewtag => {
        const { model_id } = JSON.parse(viewtag.innerHTML);
        const model = models.find(m => m.model_id === model_id);
        if (model === undefined || viewtag.parentElement === null) {
          return;
        }
        const widgetTag = document.createElement('div');
        widgetTag.className = 'widget-subarea';
        viewtag.parentElement.insertBefore(widgetTag, viewtag);
        const view = await manager.create_view(model);
        await manager.display_view(view, widgetTag);
      })
    );
    managers.push(manager);
  }
  return managers;
}

if (!window._svdwidgets_embedder) {
  window._svdwidgets_embedder = true;
  const go = () =>
    renderWidgets().then(
      managers => {
        window.svdwidgetsManagers = managers; // for tests / debugging
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
