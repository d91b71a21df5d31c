// main.js: the entry point (loaded as a module by index.html).
import { App } from './app.js';

new App(document.getElementById('app')).boot();
