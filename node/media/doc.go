// Package media stores, processes and transfers a node's attachments, never holding a
// plaintext byte at rest. (Full format in docs/PROTOCOL.md, "Media".)
package media
