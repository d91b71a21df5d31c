// Package storeformat is the store's format version and its in-place upgrade steps
// (docs/PROTOCOL.md "Store format version"): step i brings a store written at format i to
// format i+1, in batches of records, each step re-runnable after a crash (records already
// upgraded are left alone) and the version bumped only once a step is done
// (store.Upgrade). The messenger runs Upgrade at open, before anything else reads the
// store; a store of a newer format than this code is refused and left untouched.
//
// Step 1 rewrites the records of the release before any format change into the
// versioned ones: a contact record holding the address book and the delivery counters
// together becomes a contacts.Record and a sessions.Channel; a message record holding its
// api.Message becomes a history.Message; a conversation gains its version.
//
// Step 2 rewrites every message record (JSON history.Message) in its binary layout
// (history.EncodeMessage).
//
// Store keys: the format version is node/store's (format); the steps rewrite the records
// of node/contacts (ct/), node/sessions (sc/) and node/history (cv/, ms/).
package storeformat
