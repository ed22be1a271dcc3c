// The bundler app (app.js) on `cipherdrop/lite`: unsigned messages on the lite module, a
// signed one on the full module, fetched then.
import * as cd from 'cipherdrop/lite';

import { run } from './app.js';

await run(cd);
