// Package webui holds the browser UI that every petrel node serves at / on its local API
// listener, embedded in the binary so a clean clone builds and runs with plain `go build`.
//
// The UI is plain HTML, CSS and JavaScript modules with no build step and no third-party
// assets (assets/). It is a reference client of the local API (docs/API.md): it logs in by
// trading the token from the link that `petrel run` prints (in the URL fragment, which never
// reaches a server log or a Referer) for the HttpOnly session cookie, uses REST with the CSRF
// header for changes, and one WebSocket for live events. User text is only ever rendered with
// textContent.
//
// The browser tests drive Debian's chromium through chromedp, all against real in-process
// nodes: browser_test.go (1:1 chat, requests, restarts), live_browser_test.go (presence,
// typing, identity changes), group_browser_test.go (the group screens, three nodes),
// features_browser_test.go (formatting, emoji, forward, search, keyboard, notifications,
// presence and errors), push_browser_test.go (mute and do-not-disturb held by the node across
// two browsers, Settings → Push against a real relay), media_browser_test.go (attachments:
// images inline and in the lightbox, drop and paste, a file downloaded byte-identical, a voice
// note from chromium's fake microphone, tus resuming after a lost PATCH, a file over 16 MiB
// fetched when asked, axe-core on the tray and the lightbox), a11y_browser_test.go (axe-core on
// every main screen, light and dark); store_browser_test.go runs the state and DOM modules against edge cases and random input.
// Without chromium or axe-core they fail, naming what is missing (PETREL_AXE may name axe.min.js);
// PETREL_BROWSER_TESTS=0 opts out of them explicitly.
// screenshots go to $PETREL_ARTIFACTS/webui.
package webui
