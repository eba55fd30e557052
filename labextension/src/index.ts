import {
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { IJupyterWidgetRegistry } from '@jupyter-widgets/base';

import * as widgetExports from './widgets';
import { MODULE_NAME, MODULE_VERSION } from './version';

export * from './widgets';
export * from './serializers';
export { MODULE_NAME, MODULE_VERSION };

const plugin: JupyterFrontEndPlugin<void> = {
  id: 'svdwidgets:plugin',
  description: 'Registers the svdwidgets ipywidgets module (FrequencyMap, HypergraphView).',
  requires: [IJupyterWidgetRegistry],
  autoStart: true,
  activate: (_app: JupyterFrontEnd, registry: IJupyterWidgetRegistry): void => {
    registry.registerWidget({
      name: MODULE_NAME,
      version: MODULE_VERSION,
      exports: widgetExports as any
    });
  }
};

export default plugin;
