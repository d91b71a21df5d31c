package node

import "github.com/petrel-chat/petrel/node/messenger"

// MessengerForTest is the node's messenger, for the linked-device tests (devices_test.go),
// which build linked devices with node/devices directly (the link protocol is
// node/devicelink's, tested there).
func (n *Node) MessengerForTest() *messenger.Messenger { return n.msg }
