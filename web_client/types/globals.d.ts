// Globals of the pages for the JS type check (jsconfig.json): nothing here is loaded by a browser.

interface Window {
  /** The page's state and test hooks (desktop.js, kiosk.js, xr.js): for the browser tests and the console. */
  fitmirror?: object;
}
