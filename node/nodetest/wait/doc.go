// Package wait polls for a condition in tests: the one copy of the "eventually" loop every
// test package of the module uses (node, node/messenger, webui, cmd/petrel). It imports
// nothing of petrel, so the messenger's own tests can use it without a cycle.
package wait
