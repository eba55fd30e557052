// A widget manager without a kernel: resolves @jupyter-widgets/base and our module, and
// records what the front end would send to the kernel.
import { ManagerBase } from '@jupyter-widgets/base-manager';
import * as base from '@jupyter-widgets/base';

import * as widgetExports from '../widgets';
import { MODULE_NAME } from '../version';

export class MockComm {
  comm_id = `mock-${Math.random()}`;
  target_name = 'jupyter.widget';
  sent: any[] = [];
  on_msg(): void {}
  on_close(): void {}
  open(): string {
    return '';
  }
  close(): string {
    return '';
  }
  send(data: any): string {
    this.sent.push(data);
    return '';
  }
}

export class DummyManager extends ManagerBase {
  protected async loadClass(className: string, moduleName: string): Promise<any> {
    const mod: any =
      moduleName === '@jupyter-widgets/base'
        ? base
        : moduleName === MODULE_NAME
          ? widgetExports
          : undefined;
    if (!mod || !mod[className]) {
      throw new Error(`class ${className} not found in ${moduleName}`);
    }
    return mod[className];
  }
  protected _create_comm(): Promise<any> {
    return Promise.resolve(new MockComm());
  }
  protected _get_comm_info(): Promise<{}> {
    return Promise.resolve({});
  }
}
