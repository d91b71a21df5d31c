// Package frame is the length-prefixed frame of every petrel stream, node's and relay's
// alike (docs/PROTOCOL.md, Framing): uvarint(len(body)) ‖ body. One strictness for all of
// them: a length must be the minimal uvarint, and a length over the codec's limit is refused
// before any body byte is read.
package frame
